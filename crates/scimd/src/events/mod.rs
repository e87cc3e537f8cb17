//! Telling the product what changed: the events each write emits, their
//! delivery to webhook endpoints and the event feed (issue 13). So far:
//! [`signature`], the Standard Webhooks 1.0 signing that every delivery
//! carries. The events themselves come from the `ChangeSet` each write
//! returns (`crate::store::ChangeSet`, streamed by `Service::subscribe`).

pub mod signature;
