//! The answer of `GET /api/routes`: the routes a client may name in a chat request.

use serde::{Deserialize, Serialize};

/// One configured route and the model behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    pub name: String,
    pub description: String,
    /// The first target's model (`auto` for the auto route).
    pub model: String,
    /// The first target's region (`auto` for the auto route).
    pub region: String,
    /// The whole chain, in configured order (the first target, then its fallbacks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetInfo>,
    /// For the auto route: the route each tier goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<AutoTiers>,
}

/// A model in a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub model: String,
    pub region: String,
}

/// The routes the auto route picks from, by tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoTiers {
    pub simple: String,
    pub medium: String,
    pub complex: String,
}

/// Every route, in name order, and the one used when a request names none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutesResponse {
    pub default_route: String,
    pub routes: Vec<RouteInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip_with_the_documented_shape() {
        let response = RoutesResponse {
            default_route: "generate".into(),
            routes: vec![RouteInfo {
                name: "generate".into(),
                description: "Balanced".into(),
                model: "m".into(),
                region: "us-east-1".into(),
                targets: Vec::new(),
                tiers: None,
            }],
        };
        let json = serde_json::to_string(&response).unwrap();
        assert_eq!(
            json,
            r#"{"default_route":"generate","routes":[{"name":"generate","description":"Balanced","model":"m","region":"us-east-1"}]}"#
        );
        assert_eq!(
            serde_json::from_str::<RoutesResponse>(&json).unwrap(),
            response
        );
    }

    #[test]
    fn chains_and_tiers_are_listed_when_present() {
        let auto = RouteInfo {
            name: "auto".into(),
            description: String::new(),
            model: "auto".into(),
            region: "auto".into(),
            targets: vec![],
            tiers: Some(AutoTiers {
                simple: "a".into(),
                medium: "b".into(),
                complex: "c".into(),
            }),
        };
        let json = serde_json::to_string(&auto).unwrap();
        assert_eq!(
            json,
            r#"{"name":"auto","description":"","model":"auto","region":"auto","tiers":{"simple":"a","medium":"b","complex":"c"}}"#
        );
        let chain: RouteInfo = serde_json::from_str(
            r#"{"name":"g","description":"","model":"m","region":"r","targets":[{"model":"m","region":"r"},{"model":"m","region":"s"}]}"#,
        )
        .unwrap();
        assert_eq!(chain.targets[1].region, "s");
    }
}
