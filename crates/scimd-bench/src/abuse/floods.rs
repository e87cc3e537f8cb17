//! Floods of small requests, 32 at a time: with tokens the server never
//! issued, and with one tenant's token far past its rate.

use super::measure::{measured, send};
use super::{Outcome, Sizes, Target};
use crate::http::Http;
use reqwest::Method;
use std::time::Duration;

/// Requests with tokens the server never issued.
pub(super) async fn bad_token_flood(t: &Target, sizes: &Sizes) -> Outcome {
    let n = sizes.bad_tokens;
    let base = t.scim.base().to_string();
    measured(t, "bad_token_flood", format!("{n} requests with unknown tokens, 32 at a time"), |mut o| async move {
        let Ok(bad) = Http::new(&base, Some("scimd_not_a_token"), 32, Duration::from_secs(30)) else {
            o.failed = Some("no client".into());
            return o;
        };
        let answers = flood(&bad, n).await;
        for a in answers {
            o.count(a);
        }
        o
    })
    .await
}

/// One tenant sending far past its rate.
pub(super) async fn rate_limited_flood(t: &Target, sizes: &Sizes) -> Outcome {
    let n = sizes.flood;
    measured(
        t,
        "rate_limited_flood",
        format!("{n} GET /Users?count=1 with the tenant's token, 32 at a time"),
        |mut o| async move {
            for a in flood(&t.scim, n).await {
                o.count(a);
            }
            o
        },
    )
    .await
}

async fn flood(http: &Http, n: usize) -> Vec<String> {
    let per = n.div_ceil(32);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let http = http.clone();
            tokio::spawn(async move {
                let mut answers = Vec::with_capacity(per);
                for _ in 0..per {
                    answers.push(send(&http, Method::GET, "/Users?count=1", None).await.0);
                }
                answers
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all
}
