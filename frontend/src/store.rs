//! Conversations kept in `localStorage`: an index of summaries under `{prefix}index` and the
//! messages of each under `{prefix}c:{id}`, so listing does not read every conversation.

use crate::state::StoredMessage;
use serde::{Deserialize, Serialize};
use shared::Role;
use std::fmt;
use web_sys::Storage;

/// Title of a conversation before its first message names it.
pub const DEFAULT_TITLE: &str = "New conversation";
const TITLE_CHARS: usize = 60;

/// One entry of the conversation list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub title: String,
    /// Milliseconds since the epoch of the last change.
    pub updated_ms: u64,
    /// Set once the user renamed it; stops the title following the first message.
    #[serde(default)]
    pub renamed: bool,
}

/// Storage is unavailable (private mode, disabled) or full.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not save conversations: {}", self.0)
    }
}

/// Handle on the conversations under one key prefix; reads storage on every call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConversationStore {
    prefix: &'static str,
}

impl ConversationStore {
    pub fn new(prefix: &'static str) -> Self {
        Self { prefix }
    }

    /// Summaries, most recently changed first (the index is kept in that order).
    /// Empty when nothing readable is stored.
    pub fn list(&self) -> Vec<Summary> {
        self.read(&self.index_key()).unwrap_or_default()
    }

    /// Starts an empty conversation and returns its summary.
    pub fn create(&self) -> Result<Summary, StoreError> {
        let now = now_ms();
        let summary = Summary {
            id: format!("{now:x}{:06x}", (js_sys::Math::random() * 16e6) as u32),
            title: DEFAULT_TITLE.to_owned(),
            updated_ms: now,
            renamed: false,
        };
        let mut list = self.list();
        list.insert(0, summary.clone());
        self.write(&self.index_key(), &list)?;
        Ok(summary)
    }

    /// The messages of `id`; empty when it has none or does not exist.
    pub fn load(&self, id: &str) -> Vec<StoredMessage> {
        self.read(&self.key(id)).unwrap_or_default()
    }

    /// Saves the messages of `id`. Until renamed, the title is the first user message.
    pub fn save(&self, id: &str, messages: &[StoredMessage]) -> Result<(), StoreError> {
        self.write(&self.key(id), &messages)?;
        let first = messages.iter().find(|m| m.role == Role::User);
        self.update(id, |summary| {
            if let Some(first) = first.filter(|_| !summary.renamed) {
                summary.title = title_from(&first.content);
            }
        })
    }

    pub fn rename(&self, id: &str, title: &str) -> Result<(), StoreError> {
        let title = title.trim();
        if title.is_empty() {
            return Ok(());
        }
        self.update(id, |summary| {
            summary.title = title.to_owned();
            summary.renamed = true;
        })
    }

    pub fn delete(&self, id: &str) -> Result<(), StoreError> {
        let storage = storage()?;
        storage.remove_item(&self.key(id)).map_err(js_error)?;
        let list: Vec<Summary> = self.list().into_iter().filter(|s| s.id != id).collect();
        self.write(&self.index_key(), &list)
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut Summary)) -> Result<(), StoreError> {
        let mut list = self.list();
        if let Some(at) = list.iter().position(|s| s.id == id) {
            let mut summary = list.remove(at);
            change(&mut summary);
            summary.updated_ms = now_ms();
            list.insert(0, summary);
        }
        self.write(&self.index_key(), &list)
    }

    fn index_key(&self) -> String {
        format!("{}index", self.prefix)
    }

    fn key(&self, id: &str) -> String {
        format!("{}c:{id}", self.prefix)
    }

    fn read<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Option<T> {
        let json = storage().ok()?.get_item(key).ok()??;
        serde_json::from_str(&json).ok()
    }

    fn write<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let json = serde_json::to_string(value).map_err(|e| StoreError(e.to_string()))?;
        storage()?.set_item(key, &json).map_err(js_error)
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn storage() -> Result<Storage, StoreError> {
    web_sys::window()
        .ok_or_else(|| StoreError("no window".into()))?
        .local_storage()
        .map_err(js_error)?
        .ok_or_else(|| StoreError("localStorage is disabled".into()))
}

fn js_error(error: wasm_bindgen::JsValue) -> StoreError {
    let text = js_sys::Error::from(error).message();
    StoreError(text.into())
}

/// The first line of `text`, shortened to a title.
fn title_from(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(DEFAULT_TITLE)
        .trim();
    match line.char_indices().nth(TITLE_CHARS) {
        Some((at, _)) => format!("{}…", line[..at].trim_end()),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::title_from;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn titles_come_from_the_first_line() {
        assert_eq!(title_from("\n  Hello there \nsecond"), "Hello there");
        let long = "é".repeat(70);
        assert_eq!(title_from(&long), format!("{}…", "é".repeat(60)));
    }
}
