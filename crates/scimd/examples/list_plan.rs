//! How the database runs a user list: the plans of the total's statement and
//! of the page's, exactly as the server builds them (docs/benchmarks.md shows
//! them for `meta.lastModified` polls).
//!
//!     cargo run -p scimd --example list_plan -- DATABASE_URL TENANT FILTER [SORTBY [descending]]
//!     e.g. ... sqlite:///tmp/b.db bench 'meta.lastModified gt "2026-01-01T10:00:00Z"' meta.lastModified

use scimd::store::{Kind, ListQuery};

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, tenant, filter, rest @ ..] = args.as_slice() else {
        return Err("usage: list_plan DATABASE_URL TENANT FILTER [SORTBY [descending]]".into());
    };
    let (svc, _tasks) = scimd::cli::open_default(url).await?;
    let tenant =
        svc.tenant_by_name(tenant).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no tenant '{tenant}'"))?;
    let query = ListQuery {
        filter: Some(scim_core::parse_filter(filter).map_err(|e| e.detail)?),
        sort_by: rest.first().map(|p| scim_core::AttrPath::parse(p).map_err(|e| e.detail)).transpose()?,
        descending: rest.get(1).is_some_and(|o| o.eq_ignore_ascii_case("descending")),
        offset: 0,
        limit: 100,
        hand_made_only_in: Vec::new(),
    };
    let rt = scim_core::ResourceType::user();
    let (count, page) = svc.list_plan(tenant.id, Kind::User, &query, &rt).await.map_err(|e| e.to_string())?;
    println!("count:\n  {}\npage:\n  {}", count.join("\n  "), page.join("\n  "));
    Ok(())
}
