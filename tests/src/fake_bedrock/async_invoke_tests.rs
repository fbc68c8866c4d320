//! Async-invoke lifecycle, idempotency, failure faults and listing, at injected times.

use super::*;
use crate::fake_bedrock::faults::{Fault, FaultRule};

const T0: i64 = 1_700_000_000_000;
const MODEL: &str = "amazon.nova-reel-v1:0";

fn body(token: Option<&str>) -> Vec<u8> {
    let mut body = json!({
        "modelId": MODEL,
        "modelInput": {"taskType": "TEXT_VIDEO"},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}},
    });
    if let Some(token) = token {
        body["clientRequestToken"] = json!(token);
    }
    body.to_string().into_bytes()
}

fn arn_of(answer: &Value) -> String {
    answer["invocationArn"].as_str().unwrap().to_owned()
}

#[test]
fn a_job_runs_then_completes_and_start_is_idempotent() {
    let (jobs, control) = (AsyncJobs::default(), Control::default());
    let arn = arn_of(
        &jobs
            .start(&control, "us-west-2", &body(Some("token-1")), T0)
            .unwrap(),
    );
    let (prefix, id) = arn.rsplit_once('/').unwrap();
    assert_eq!(
        prefix,
        "arn:aws:bedrock:us-west-2:123456789012:async-invoke"
    );
    assert!(
        id.len() == 12
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(
        arn_of(
            &jobs
                .start(&control, "us-west-2", &body(Some("token-1")), T0 + 5)
                .unwrap()
        ),
        arn
    );
    assert_ne!(
        arn_of(
            &jobs
                .start(&control, "us-west-2", &body(Some("token-2")), T0)
                .unwrap()
        ),
        arn
    );
    assert_eq!(control.calls(MODEL), 3);

    let early = jobs.get("us-west-2", &arn, T0 + 10).unwrap();
    assert_eq!(
        (early["status"].as_str(), early.get("endTime")),
        (Some("InProgress"), None)
    );
    let done = jobs.get("us-west-2", &arn, T0 + 250).unwrap();
    assert_eq!(done["status"], "Completed");
    assert_eq!(done["clientRequestToken"], "token-1");
    assert_eq!(
        done["modelArn"],
        format!("arn:aws:bedrock:us-west-2::foundation-model/{MODEL}")
    );
    assert_eq!(
        done["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"],
        "s3://bucket/out"
    );
    // Jobs belong to the region they were started in.
    assert!(jobs.get("eu-west-1", &arn, T0).is_err());
}

#[test]
fn a_fault_on_the_model_fails_the_job() {
    let (jobs, control) = (AsyncJobs::default(), Control::default());
    control
        .add(FaultRule::new(MODEL, Fault::ModelError).times(1))
        .unwrap();
    let failed = arn_of(&jobs.start(&control, "us-east-1", &body(None), T0).unwrap());
    let ok = arn_of(&jobs.start(&control, "us-east-1", &body(None), T0).unwrap());
    let job = jobs.get("us-east-1", &failed, T0 + 300).unwrap();
    assert_eq!(job["status"], "Failed");
    assert!(job["failureMessage"]
        .as_str()
        .unwrap()
        .contains("error from the model"));
    assert_eq!(
        jobs.get("us-east-1", &ok, T0 + 300).unwrap()["status"],
        "Completed"
    );
}

#[test]
fn bad_start_bodies_are_validation_errors() {
    let (jobs, control) = (AsyncJobs::default(), Control::default());
    for (bad, member) in [
        (
            json!({"modelId": "no spaces allowed", "modelInput": {}}),
            "modelId",
        ),
        (json!({"modelId": MODEL}), "modelInput"),
        (
            json!({"modelId": MODEL, "modelInput": {}, "outputDataConfig": {}}),
            "s3Uri",
        ),
    ] {
        let error = jobs
            .start(&control, "us-east-1", bad.to_string().as_bytes(), T0)
            .unwrap_err();
        assert_eq!(error.status, 400);
        assert!(error.message.contains(member), "{}", error.message);
    }
    assert_eq!(control.calls(MODEL), 0);
}

#[test]
fn listing_filters_sorts_and_pages() {
    let (jobs, control) = (AsyncJobs::default(), Control::default());
    let arns: Vec<String> = (0..5)
        .map(|i| {
            arn_of(
                &jobs
                    .start(
                        &control,
                        "us-east-1",
                        &body(Some(&format!("t{i}"))),
                        T0 + i * 1000,
                    )
                    .unwrap(),
            )
        })
        .collect();
    let now = T0 + 4100; // the last job is still running
    let list = |query: &str| jobs.list("us-east-1", Some(query), now).unwrap();
    let arns_of = |page: &Value| -> Vec<String> {
        page["asyncInvokeSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(arn_of)
            .collect()
    };
    assert_eq!(arns_of(&list("statusEquals=InProgress")), [arns[4].clone()]);
    assert_eq!(
        arns_of(&list("statusEquals=Completed&sortOrder=Ascending")),
        arns[..4]
    );

    let first = list("maxResults=2");
    assert_eq!(arns_of(&first), [arns[4].clone(), arns[3].clone()]);
    let token = first["nextToken"].as_str().unwrap();
    let second = list(&format!("maxResults=2&nextToken={token}"));
    assert_eq!(arns_of(&second), [arns[2].clone(), arns[1].clone()]);
    let last = list(&format!(
        "maxResults=2&nextToken={}",
        second["nextToken"].as_str().unwrap()
    ));
    assert_eq!((arns_of(&last).len(), last.get("nextToken")), (1, None));

    let after = clock::iso8601(T0 + 2500).replace(':', "%3A");
    assert_eq!(arns_of(&list(&format!("submitTimeAfter={after}"))).len(), 2);
    assert!(
        jobs.list("eu-west-1", None, now).unwrap()["asyncInvokeSummaries"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    for bad in [
        "statusEquals=Done",
        "maxResults=0",
        "nextToken=garbage",
        "sortOrder=Up",
        "submitTimeAfter=yesterday",
    ] {
        assert_eq!(
            jobs.list("us-east-1", Some(bad), now).unwrap_err().status,
            400,
            "{bad}"
        );
    }
}
