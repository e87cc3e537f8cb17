//! Sending webhooks: the task that fans committed events out to each
//! tenant's endpoints, leases due deliveries, signs and sends them, and
//! records what each attempt meant ([`sender`]), over its own HTTP client
//! ([`client`]). A server task, run by [`crate::server`] beside the others;
//! it calls the service, which never calls it. A test send ([`probe`]) goes
//! out the same way, for the admin API and the console.

pub(crate) mod client;
pub(crate) mod probe;
pub(crate) mod sender;
