"""Proves the fake Bedrock is faithful: boto3 from PyPI (a client no one here wrote) drives it.

Run through tests/boto3/run.sh, which starts the fake and sets FAKE_BEDROCK_URL.
Plain unittest, no pytest: `python -m unittest -v test_fake_bedrock`.
"""

import json
import os
import time
import unittest
import urllib.request
import warnings

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

URL = os.environ.get("FAKE_BEDROCK_URL", "http://127.0.0.1:8788")
ACCESS_KEY = "AKIAFAKEBEDROCK00000"
SECRET_KEY = "fake-bedrock-secret-key"
API_KEY = "fake-bedrock-api-key"
REGION = "us-east-1"

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"
APP_PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/jf2sje1c0jnb"
PROMPT = "Tell me about streaming, please."


def expected(model, region=REGION, prompt=PROMPT):
    return f"Hello from {model} in {region}. You said: {prompt[:60]}. This answer streams word by word."


def client(region=REGION, **credentials):
    if not credentials:
        credentials = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}
    # One attempt in all, so that a fault surfaces instead of being retried away. (botocore's
    # `max_attempts` counts retries only: `max_attempts: 1` would still retry once.)
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    session = boto3.session.Session()
    return session.client("bedrock-runtime", region_name=region, endpoint_url=URL, config=config, **credentials)


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(URL + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def messages(prompt=PROMPT):
    return [{"role": "user", "content": [{"text": prompt}]}]


def anthropic_body(prompt=PROMPT):
    return json.dumps({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": prompt}],
    })


class FakeBedrockWithBoto3(unittest.TestCase):
    def setUp(self):
        # Clients made per test leave pooled sockets behind when collected; that is fine here.
        warnings.simplefilter("ignore", ResourceWarning)
        os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)
        control("DELETE", "/_fake/faults")
        self.bedrock = client()

    def test_converse(self):
        response = self.bedrock.converse(modelId=HAIKU, messages=messages(), inferenceConfig={"maxTokens": 100})
        self.assertEqual(response["output"]["message"]["content"][0]["text"], expected(HAIKU))
        self.assertEqual(response["stopReason"], "end_turn")
        self.assertEqual(response["usage"]["inputTokens"], len(PROMPT.split()))
        self.assertIn("latencyMs", response["metrics"])
        self.assertTrue(response["ResponseMetadata"]["RequestId"])

    def test_converse_stream(self):
        response = self.bedrock.converse_stream(modelId=PROFILE, messages=messages())
        names, text, deltas, metadata, stop = [], "", 0, None, None
        for event in response["stream"]:
            (name, body), = event.items()
            names.append(name)
            if name == "contentBlockDelta":
                text += body["delta"]["text"]
                deltas += 1
            elif name == "messageStop":
                stop = body["stopReason"]
            elif name == "metadata":
                metadata = body
        self.assertEqual(text, expected(PROFILE))
        self.assertEqual(names[0], "messageStart")
        self.assertEqual(names[-3:], ["contentBlockStop", "messageStop", "metadata"])
        self.assertEqual(stop, "end_turn")
        self.assertEqual(metadata["usage"]["outputTokens"], deltas)
        self.assertEqual(metadata["usage"]["totalTokens"], deltas + len(PROMPT.split()))

    def test_max_tokens_cuts_the_answer(self):
        response = self.bedrock.converse(modelId=HAIKU, messages=messages(), inferenceConfig={"maxTokens": 3})
        self.assertEqual(response["stopReason"], "max_tokens")
        self.assertEqual(response["usage"]["outputTokens"], 3)

    def test_invoke_model(self):
        response = self.bedrock.invoke_model(modelId=HAIKU, body=anthropic_body(), contentType="application/json",
                                             accept="application/json")
        body = json.loads(response["body"].read())
        self.assertEqual(body["type"], "message")
        self.assertEqual(body["content"][0]["text"], expected(HAIKU))
        self.assertEqual(response["contentType"], "application/json")
        headers = response["ResponseMetadata"]["HTTPHeaders"]
        self.assertEqual(int(headers["x-amzn-bedrock-output-token-count"]), body["usage"]["output_tokens"])
        self.assertIn("x-amzn-bedrock-invocation-latency", headers)

    def test_invoke_model_with_response_stream(self):
        response = self.bedrock.invoke_model_with_response_stream(modelId=PROFILE, body=anthropic_body(),
                                                                  contentType="application/json")
        self.assertEqual(response["contentType"], "application/json")
        chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
        text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
        self.assertEqual(text, expected(PROFILE))
        self.assertEqual(chunks[0]["type"], "message_start")
        self.assertEqual(chunks[-1]["type"], "message_stop")
        metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
        self.assertEqual(metrics["outputTokenCount"], sum(c["type"] == "content_block_delta" for c in chunks))

    def test_ids_with_colon_and_arns_with_slash_go_through_boto3_encoding_and_signing(self):
        for model in [HAIKU, PROFILE_ARN, APP_PROFILE_ARN]:
            response = self.bedrock.converse(modelId=model, messages=messages())
            self.assertEqual(response["output"]["message"]["content"][0]["text"], expected(model))
        calls = control("GET", "/_fake/calls")
        self.assertEqual(calls["calls"][PROFILE_ARN], 1)
        self.assertEqual(calls["by_region"][f"{APP_PROFILE_ARN}@{REGION}"], 1)

    def test_the_fake_answers_as_the_signing_region(self):
        response = client("eu-west-3").converse(modelId=HAIKU, messages=messages())
        self.assertEqual(response["output"]["message"]["content"][0]["text"], expected(HAIKU, "eu-west-3"))

    def test_wrong_secret_is_an_invalid_signature(self):
        bad = client(aws_access_key_id=ACCESS_KEY, aws_secret_access_key="not-the-secret")
        with self.assertRaises(ClientError) as caught:
            bad.converse(modelId=HAIKU, messages=messages())
        self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidSignatureException")
        self.assertEqual(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)

    def test_throttle_fault_is_a_throttling_exception(self):
        control("POST", "/_fake/faults", {"model": HAIKU, "times": 1, "fault": {"kind": "throttle"}})
        with self.assertRaises(ClientError) as caught:
            self.bedrock.converse(modelId=HAIKU, messages=messages())
        error = caught.exception.response
        self.assertEqual(error["Error"]["Code"], "ThrottlingException")
        self.assertEqual(error["Error"]["Message"], "Too many requests, please wait before trying again.")
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 429)
        self.assertEqual(type(caught.exception).__name__, "ThrottlingException")
        self.assertEqual(control("GET", "/_fake/calls")["calls"][HAIKU], 1)
        # `times: 1` is used up.
        self.bedrock.converse(modelId=HAIKU, messages=messages())

    def test_exception_after_fault_is_an_event_stream_error(self):
        fault = {"kind": "exception_after", "deltas": 2, "exception": "throttlingException"}
        control("POST", "/_fake/faults", {"model": PROFILE, "times": 2, "fault": fault})
        for call in [
            lambda: self.bedrock.converse_stream(modelId=PROFILE, messages=messages())["stream"],
            lambda: self.bedrock.invoke_model_with_response_stream(modelId=PROFILE, body=anthropic_body())["body"],
        ]:
            seen = []
            with self.assertRaises(EventStreamError) as caught:
                for event in call():
                    seen.append(event)
            self.assertEqual(caught.exception.response["Error"]["Code"], "throttlingException")
            self.assertGreaterEqual(len(seen), 3)

    def test_async_invoke_start_get_list(self):
        output = {"s3OutputDataConfig": {"s3Uri": "s3://my-bucket/videos/"}}
        model_input = {"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "waves"}}
        started = self.bedrock.start_async_invoke(modelId="amazon.nova-reel-v1:0", modelInput=model_input,
                                                  outputDataConfig=output, clientRequestToken="boto3-token-1")
        arn = started["invocationArn"]
        self.assertRegex(arn, r"^arn:aws:bedrock:us-east-1:123456789012:async-invoke/[a-z0-9]{12}$")
        again = self.bedrock.start_async_invoke(modelId="amazon.nova-reel-v1:0", modelInput=model_input,
                                                outputDataConfig=output, clientRequestToken="boto3-token-1")
        self.assertEqual(again["invocationArn"], arn)
        # boto3 fills in its own idempotency token when none is given: a new job.
        other = self.bedrock.start_async_invoke(modelId="amazon.nova-reel-v1:0", modelInput=model_input,
                                                outputDataConfig=output)
        self.assertNotEqual(other["invocationArn"], arn)

        job = self.bedrock.get_async_invoke(invocationArn=arn)
        self.assertEqual(job["status"], "InProgress")
        deadline = time.monotonic() + 5
        while job["status"] == "InProgress" and time.monotonic() < deadline:
            time.sleep(0.05)
            job = self.bedrock.get_async_invoke(invocationArn=arn)
        self.assertEqual(job["status"], "Completed")
        self.assertEqual(job["outputDataConfig"], output)
        self.assertGreaterEqual(job["submitTime"].year, 2024)

        completed = self.bedrock.list_async_invokes(statusEquals="Completed")["asyncInvokeSummaries"]
        self.assertIn(arn, [s["invocationArn"] for s in completed])
        listed = self.bedrock.list_async_invokes(maxResults=1, sortOrder="Ascending")
        self.assertEqual([s["invocationArn"] for s in listed["asyncInvokeSummaries"]], [arn])
        self.assertIn("nextToken", listed)
        rest = self.bedrock.list_async_invokes(maxResults=10, nextToken=listed["nextToken"], sortOrder="Ascending")
        self.assertEqual([s["invocationArn"] for s in rest["asyncInvokeSummaries"]], [other["invocationArn"]])

    def test_bearer_token_from_the_environment(self):
        os.environ["AWS_BEARER_TOKEN_BEDROCK"] = API_KEY
        # A wrong secret proves the bearer token, not SigV4, authenticated the call.
        bearer = client(aws_access_key_id=ACCESS_KEY, aws_secret_access_key="not-the-secret")
        response = bearer.converse(modelId=HAIKU, messages=messages())
        self.assertEqual(response["output"]["message"]["content"][0]["text"], expected(HAIKU))
        os.environ["AWS_BEARER_TOKEN_BEDROCK"] = "not-the-api-key"
        with self.assertRaises(ClientError) as caught:
            client().converse(modelId=HAIKU, messages=messages())
        self.assertEqual(caught.exception.response["Error"]["Code"], "UnrecognizedClientException")


if __name__ == "__main__":
    unittest.main()
