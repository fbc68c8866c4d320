//! The conversation store against the browser's real `localStorage`.

use frontend::{
    state::{Status, StoredMessage},
    store::{ConversationStore, DEFAULT_TITLE},
};
use shared::Role;
use wasm_bindgen_test::wasm_bindgen_test;

fn message(role: Role, content: &str) -> StoredMessage {
    StoredMessage {
        role,
        content: content.into(),
        info: None,
        status: Status::Done,
    }
}

#[wasm_bindgen_test]
fn save_load_rename_delete_round_trip() {
    let store = ConversationStore::new("test-round-trip:");
    assert!(store.list().is_empty());
    let first = store.create().unwrap();
    let second = store.create().unwrap();
    assert_eq!(first.title, DEFAULT_TITLE);
    assert_ne!(first.id, second.id);

    let messages = vec![
        message(Role::User, "How do tides work?\nAsk simply."),
        message(Role::Assistant, "The **moon**."),
    ];
    store.save(&first.id, &messages).unwrap();
    // A new handle reads what the page saved before a reload.
    let reloaded = ConversationStore::new("test-round-trip:");
    assert_eq!(reloaded.load(&first.id), messages);
    assert_eq!(reloaded.list()[0].title, "How do tides work?");

    reloaded.rename(&second.id, "  Renamed  ").unwrap();
    reloaded.save(&second.id, &messages).unwrap();
    let list = store.list();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, second.id, "most recently changed first");
    assert_eq!(list[0].title, "Renamed", "a renamed title is kept");

    store.delete(&first.id).unwrap();
    let list = store.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, second.id);
    assert!(store.load(&first.id).is_empty());
    let raw = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    assert_eq!(
        raw.get_item(&format!("test-round-trip:c:{}", first.id))
            .unwrap(),
        None
    );
}

#[wasm_bindgen_test]
fn unreadable_entries_read_as_empty() {
    let raw = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    raw.set_item("test-corrupt:index", "{not json").unwrap();
    raw.set_item("test-corrupt:c:x", "[1,2").unwrap();
    let store = ConversationStore::new("test-corrupt:");
    assert!(store.list().is_empty());
    assert!(store.load("x").is_empty());
}
