//! Launching the framed chat: the edge must accept the widget's key for the page it is
//! embedded in, and open the route the widget asks for. Until then the frame says where this
//! stands.

use super::options::Options;
use crate::{abort, api};
use leptos::{prelude::*, task::spawn_local};
use shared::{
    routes::RoutesResponse,
    widget::{KEY_HEADER, ORIGIN_HEADER},
};

/// Where the widget stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Checking,
    /// The chat may start: on `route`, sending `headers` with every request.
    Ready {
        route: String,
        headers: Vec<(String, String)>,
    },
    Refused(String),
}

/// Launches the widget on the page of origin `host`: refused at once without a key or a known
/// host, else once the edge has answered.
pub fn start(options: &Options, host: Option<&str>) -> ReadSignal<Phase> {
    let (phase, set_phase) = signal(Phase::Checking);
    if options.key.is_empty() {
        set_phase.set(Phase::Refused(
            "This chat widget has no key: add data-key to its script tag.".into(),
        ));
    } else if let Some(host) = host {
        let headers = vec![
            (KEY_HEADER.to_owned(), options.key.clone()),
            (ORIGIN_HEADER.to_owned(), host.to_owned()),
        ];
        check(headers, options.route.clone(), set_phase);
    } else {
        set_phase.set(Phase::Refused(
            "This chat widget could not tell which site it is on, so it cannot answer here.".into(),
        ));
    }
    phase
}

/// The route to use from the ones the edge offers this key: the one asked for, if offered.
pub fn pick_route(asked: Option<&str>, offered: &RoutesResponse) -> Result<String, String> {
    match asked {
        None => Ok(offered.default_route.clone()),
        Some(name) if offered.routes.iter().any(|r| r.name == name) => Ok(name.to_owned()),
        Some(name) => Err(format!(
            "This chat widget asks for the route {name:?} (data-route), which its key does not \
             open."
        )),
    }
}

/// Asks the edge which routes the key in `headers` opens here; sets the phase from the answer.
fn check(headers: Vec<(String, String)>, asked: Option<String>, set_phase: WriteSignal<Phase>) {
    let Some(signal) = abort::until_cleanup() else {
        set_phase.set(Phase::Refused(
            "This browser is too old for the chat.".into(),
        ));
        return;
    };
    spawn_local(async move {
        let answer = api::fetch_routes_with("", &headers, &signal).await;
        if signal.aborted() {
            return;
        }
        set_phase.set(match answer {
            Ok(offered) => match pick_route(asked.as_deref(), &offered) {
                Ok(route) => Phase::Ready { route, headers },
                Err(message) => Phase::Refused(message),
            },
            Err(failure) => Phase::Refused(failure.message),
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::routes::RouteInfo;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn the_route_must_be_one_the_key_opens() {
        let route = |name: &str| RouteInfo {
            name: name.into(),
            description: String::new(),
            model: "m".into(),
            region: "r".into(),
            targets: Vec::new(),
            tiers: None,
        };
        let offered = RoutesResponse {
            default_route: "generate".into(),
            routes: vec![route("generate"), route("classify")],
        };
        assert_eq!(pick_route(None, &offered), Ok("generate".into()));
        assert_eq!(
            pick_route(Some("classify"), &offered),
            Ok("classify".into())
        );
        assert!(pick_route(Some("analyze"), &offered)
            .unwrap_err()
            .contains("\"analyze\""));
    }
}
