//! A tenant's extension schemas, as the admin API and the CLI change them:
//! added to the tenant's configuration, and removed with the values
//! resources hold (only with `force` when some do), in one transaction.

use super::{Error, Service};
use crate::store::{JobFuture, Kind, WriteTx};
use scim_core::ScimError;
use scim_core::extension::{Extends, TenantExtension};
use std::sync::Arc;

fn kind_of(extends: Extends) -> Kind {
    match extends {
        Extends::User => Kind::User,
        Extends::Group => Kind::Group,
    }
}

/// An extension as the admin API shows it, with how many resources hold values of it.
pub struct ExtensionInUse {
    pub extension: TenantExtension,
    pub resources_holding: i64,
}

impl Service {
    /// Register an extension schema for the tenant's Users or Groups.
    pub async fn add_extension(&self, tenant_id: i64, extension: TenantExtension) -> Result<TenantExtension, Error> {
        let added = extension.clone();
        let change = Arc::new(move |c: &mut scim_core::policy::TenantConfig| {
            if let Some(old) = c.extensions.iter().find(|e| e.schema.id.eq_ignore_ascii_case(&extension.schema.id)) {
                return Err(Error::Protocol(ScimError::new(
                    409,
                    None,
                    format!(
                        "the tenant already has the extension schema '{}' (for {}s): remove it first to define it again",
                        old.schema.id,
                        old.resource_type.as_str()
                    ),
                )));
            }
            c.extensions.push(extension.clone());
            Ok(())
        });
        self.change_config(tenant_id, change, Default::default()).await?;
        Ok(added)
    }

    /// The tenant's extension schemas.
    pub async fn extensions(&self, tenant_id: i64) -> Result<Vec<TenantExtension>, Error> {
        Ok(self.tenant_config(tenant_id).await?.extensions)
    }

    /// One extension schema by URN (ignoring case), with how many resources hold values of it.
    pub async fn extension(&self, tenant_id: i64, urn: &str) -> Result<ExtensionInUse, Error> {
        let extension = self
            .extensions(tenant_id)
            .await?
            .into_iter()
            .find(|e| e.schema.id.eq_ignore_ascii_case(urn))
            .ok_or_else(|| no_such(urn))?;
        let resources_holding = self
            .store()
            .count_holding_extension(tenant_id, kind_of(extension.resource_type), &extension.schema.id)
            .await?;
        Ok(ExtensionInUse { extension, resources_holding })
    }

    /// Remove an extension schema. When resources hold values of it, only
    /// with `force`, and their values go with it; answers how many resources
    /// lost values.
    pub async fn remove_extension(&self, tenant_id: i64, urn: &str, force: bool) -> Result<u64, Error> {
        struct Job {
            tenant_id: i64,
            urn: String,
            force: bool,
            now: String,
        }
        fn run<'t>(tx: &'t mut WriteTx, job: &'t Job) -> JobFuture<'t, u64, Error> {
            Box::pin(async move {
                let mut config = tx.tenant_config(job.tenant_id, true).await?;
                let Some(at) = config.extensions.iter().position(|e| e.schema.id.eq_ignore_ascii_case(&job.urn)) else {
                    return Err(no_such(&job.urn));
                };
                let extension = config.extensions.remove(at);
                let (kind, id) = (kind_of(extension.resource_type), extension.schema.id.as_str());
                let holding = tx.count_holding_extension(job.tenant_id, kind, id).await?;
                if holding > 0 && !job.force {
                    return Err(Error::Protocol(ScimError::new(
                        409,
                        None,
                        format!(
                            "{holding} {} of this tenant {} values of '{id}': removing the schema removes those \
                             values too; send force=true to do so",
                            kind.as_str().to_lowercase() + if holding == 1 { "" } else { "s" },
                            if holding == 1 { "holds" } else { "hold" }
                        ),
                    )));
                }
                let stripped =
                    if holding > 0 { tx.strip_extension(job.tenant_id, kind, id, &job.now).await? } else { 0 };
                tx.save_tenant_config(job.tenant_id, &config).await?;
                Ok(stripped)
            })
        }
        let job = Job { tenant_id, urn: urn.to_string(), force, now: self.now() };
        let done = self.write(job, run).await;
        self.forget_config(tenant_id);
        Ok(done?.0)
    }
}

fn no_such(urn: &str) -> Error {
    Error::NotFound(format!("the tenant has no extension schema '{urn}'"))
}
