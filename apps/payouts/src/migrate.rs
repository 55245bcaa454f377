//! `payouts migrate`: applies pending migrations and says which ones ran.

use std::io::Write;

use payouts_store::SeaOrmStore;
use payouts_store::migration::Migrator;
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::Database;

use crate::cli::CliError;
use crate::settings::DatabaseSettings;
use crate::wire::WireError;

/// Applies every pending migration to `database` and reports them on `out`.
///
/// # Errors
/// [`CliError::Wire`] when the database cannot be opened or migrated.
pub async fn migrate(database: &DatabaseSettings, out: &mut impl Write) -> Result<(), CliError> {
    let url = database.redacted_url();
    let unavailable = |message: String| WireError::Store {
        url: url.clone(),
        source: payouts_domain::StoreError::Unavailable(message),
    };
    let store = SeaOrmStore::connect(&database.url)
        .await
        .map_err(|source| WireError::Store {
            url: url.clone(),
            source,
        })?;
    // The store applies migrations but does not list them; a short-lived
    // second connection asks sea-orm-migration which are pending.
    let pending: Vec<String> = {
        let db = Database::connect(database.url.as_str())
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let pending = Migrator::get_pending_migrations(&db)
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        db.close().await.map_err(|e| unavailable(e.to_string()))?;
        pending
    };
    store.migrate().await.map_err(|source| WireError::Store {
        url: url.clone(),
        source,
    })?;
    let known = Migrator::migrations().len();
    if pending.is_empty() {
        writeln!(
            out,
            "{url}: already up to date ({known} migration(s) applied earlier); nothing to do"
        )?;
    } else {
        writeln!(
            out,
            "{url}: applied {} migration(s) ({known} known):",
            pending.len()
        )?;
        for name in &pending {
            writeln!(out, "  {name}")?;
        }
    }
    store
        .close()
        .await
        .map_err(|source| WireError::Store { url, source })?;
    Ok(())
}
