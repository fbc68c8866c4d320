//! Launching the framed chat: the edge must issue a token for the widget's key on the page it
//! is embedded in, and open the route the widget asks for. Until then the frame says where
//! this stands.

use super::options::Options;
use crate::{abort, api, token::WidgetToken};
use leptos::{prelude::*, task::spawn_local};
use shared::routes::RoutesResponse;

/// Where the widget stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Checking,
    /// The chat may start: on `route`, sending the token with every request.
    Ready {
        route: String,
        token: WidgetToken,
    },
    Refused(String),
}

/// Launches the widget on the page of origin `host`: refused at once without a key or a known
/// host, else once the edge has issued a token and listed the key's routes.
pub fn start(options: &Options, host: Option<&str>) -> ReadSignal<Phase> {
    let (phase, set_phase) = signal(Phase::Checking);
    if options.key.is_empty() {
        set_phase.set(Phase::Refused(
            "This chat widget has no key: add data-key to its script tag.".into(),
        ));
    } else if let Some(host) = host {
        let token = WidgetToken::new("", &options.key, host);
        check(token, options.route.clone(), set_phase);
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

/// Asks the edge for a token and which routes its key opens here; sets the phase from the
/// answers (a refusal shows the edge's message).
fn check(token: WidgetToken, asked: Option<String>, set_phase: WriteSignal<Phase>) {
    let Some(signal) = abort::until_cleanup() else {
        set_phase.set(Phase::Refused(
            "This browser is too old for the chat.".into(),
        ));
        return;
    };
    spawn_local(async move {
        let answer = match token.headers(&signal).await {
            Ok(headers) => api::fetch_routes_with("", &headers, &signal).await,
            Err(failure) => Err(failure),
        };
        if signal.aborted() {
            return;
        }
        set_phase.set(match answer {
            Ok(offered) => match pick_route(asked.as_deref(), &offered) {
                Ok(route) => Phase::Ready { route, token },
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
