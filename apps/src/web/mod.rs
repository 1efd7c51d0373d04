//! The Sandstorm-style static web server's parts: request parsing ([`http`]), request
//! targets made into safe paths ([`path`]), the site loaded into memory ([`site`]) and the
//! responses prepared from it ([`response`]).

pub mod http;
pub mod path;
pub mod response;
pub mod server;
pub mod site;
