//! The route `<select>`, filled from `GET /api/routes`. Until the list arrives (or if it
//! cannot), the only choice is the edge's default route.

use leptos::prelude::*;
use shared::routes::RoutesResponse;

#[component]
pub fn RoutePicker(
    /// The routes to offer; `None` until the list has arrived.
    #[prop(into)]
    routes: Signal<Option<RoutesResponse>>,
    /// The chosen route name; `None` for the edge's default.
    #[prop(into)]
    selected: Signal<Option<String>>,
    /// Called with the route the reader picks.
    on_select: Callback<Option<String>>,
) -> impl IntoView {
    let choose = move |event| {
        let value = event_target_value(&event);
        on_select.run((!value.is_empty()).then_some(value));
    };
    let options = move || {
        let chosen = selected.get();
        let Some(list) = routes.get() else {
            return vec![view! { <option value="">"Default route"</option> }.into_any()];
        };
        let chosen = chosen.unwrap_or(list.default_route);
        list.routes
            .into_iter()
            .map(|route| {
                let is_chosen = route.name == chosen;
                let title = format!("{} in {}", route.model, route.region);
                let label = if route.description.is_empty() {
                    route.name.clone()
                } else {
                    format!("{} — {}", route.name, route.description)
                };
                view! {
                    <option value=route.name prop:selected=is_chosen title=title>
                        {label}
                    </option>
                }
                .into_any()
            })
            .collect::<Vec<_>>()
    };
    view! {
        <label class="route-picker">
            <span>"Route"</span>
            <select data-testid="route-picker" on:change=choose>
                {options}
            </select>
        </label>
    }
}
