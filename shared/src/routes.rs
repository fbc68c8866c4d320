//! The answer of `GET /api/routes`: the routes a client may name in a chat request.

use serde::{Deserialize, Serialize};

/// One configured route and the model behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    pub name: String,
    pub description: String,
    pub model: String,
    pub region: String,
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
}
