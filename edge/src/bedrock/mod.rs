//! Bedrock Runtime as the edge speaks it: one signed call path ([`send`]) for every request,
//! the model [`operation`]s opened as a stream of answer events ([`call`]), SigV4 or API-key
//! [`signing`], model ids in URLs, typed [`error`]s, the binary [`eventstream`] and the answer
//! codecs: [`converse`] for the Converse API, [`native`] for InvokeModel bodies (Anthropic
//! Messages, Amazon Nova), [`decode`] for the stream of frames, and the inline [`media`] they
//! carry.

pub mod call;
pub mod converse;
pub mod decode;
pub mod error;
pub mod eventstream;
pub mod media;
pub mod model_id;
pub mod native;
pub mod operation;
pub mod request_url;
pub mod send;
pub mod signing;
