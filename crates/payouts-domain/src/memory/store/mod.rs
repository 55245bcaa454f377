//! The in-memory store: every store port over one mutex-guarded state.

mod accounts;
mod audit;
mod bank_payouts;
mod batches;
mod commissions;
mod connections;
mod conversions;
mod coupons;
mod disputes;
mod endpoints;
mod items;
mod leases;
mod memberships;
mod outbox;
mod programs;
mod request_keys;
mod sessions;
mod settings;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::batch::PayoutBatch;
use crate::commission::{Commission, CommissionState, Conversion};
use crate::connection::{MerchantConnection, OAuthState};
use crate::error::StoreError;
use crate::fees::FeeSchedule;
use crate::ids::{
    AccountId, BatchId, CommissionId, ConversionId, DisputeId, EventId, MembershipId, MerchantId,
    PayoutItemId, ProgramId, StateToken, StripePayoutId,
};
use crate::item::{Lease, PayoutItem};
use crate::money::{Currency, Money};
use crate::notification::Notification;
use crate::partner::{Coupon, Membership};
use crate::ports::{BankPayout, Page, PageRequest, RequestKeyRecord, StateTotal, StoredDispute};
use crate::program::Program;
use crate::session::{LoginLink, SecretHash, Session};

#[derive(Debug, Default)]
struct State {
    connections: HashMap<MerchantId, MerchantConnection>,
    oauth_states: HashMap<StateToken, OAuthState>,
    programs: BTreeMap<ProgramId, Program>,
    memberships: BTreeMap<MembershipId, Membership>,
    coupons: HashMap<(MerchantId, String), Coupon>,
    bank_payouts: HashMap<StripePayoutId, BankPayout>,
    conversions: BTreeMap<ConversionId, Conversion>,
    commissions: BTreeMap<CommissionId, Commission>,
    batches: BTreeMap<BatchId, PayoutBatch>,
    items: BTreeMap<PayoutItemId, PayoutItem>,
    notifications: Vec<Notification>,
    /// Delivery attempts, oldest first.
    deliveries: Vec<crate::notification::DeliveryAttempt>,
    endpoints: BTreeMap<crate::ids::WebhookEndpointId, crate::endpoint::WebhookEndpoint>,
    notification_keys: HashSet<String>,
    fee_schedule: Option<FeeSchedule>,
    events: HashSet<EventId>,
    disputes: HashMap<DisputeId, StoredDispute>,
    /// Lease name to holder and expiry.
    leases: HashMap<String, Lease>,
    account_owners: HashMap<AccountId, MerchantId>,
    request_keys: HashMap<(String, String), RequestKeyRecord>,
    login_links: HashMap<SecretHash, LoginLink>,
    sessions: HashMap<SecretHash, Session>,
    /// The audit trail, oldest first.
    audit: Vec<crate::audit::AuditEvent>,
}

impl State {
    fn enqueue(&mut self, notifications: &[Notification]) -> u64 {
        let mut written = 0_u64;
        for n in notifications {
            if self.notification_keys.insert(n.dedupe_key.clone()) {
                self.notifications.push(n.clone());
                written = written.saturating_add(1);
            }
        }
        written
    }
}

/// A complete in-memory implementation of every store port. Clones share
/// the same data.
#[derive(Debug, Clone, Default)]
pub struct InMemoryStore {
    state: Arc<Mutex<State>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        InMemoryStore::default()
    }
}

fn not_found(entity: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        entity,
        id: id.to_string(),
    }
}

fn conflict(entity: &'static str, id: impl ToString, expected: &str, found: &str) -> StoreError {
    StoreError::Conflict {
        entity,
        id: id.to_string(),
        detail: format!("expected {expected}, found {found}"),
    }
}

/// A keyset page over a `BTreeMap` keyed by a UUID newtype.
fn page_of<K, V, F>(
    map: &BTreeMap<K, V>,
    page: PageRequest,
    to_key: impl Fn(Uuid) -> K,
    keep: F,
) -> Page<V>
where
    K: Ord + Copy,
    V: Clone,
    F: Fn(&V) -> bool,
{
    let start = match page.after {
        Some(after) => Bound::Excluded(to_key(after)),
        None => Bound::Unbounded,
    };
    let limit = usize::try_from(page.limit()).unwrap_or(usize::MAX);
    let mut data: Vec<V> = map
        .range((start, Bound::Unbounded))
        .map(|(_, v)| v)
        .filter(|v| keep(v))
        .take(limit.saturating_add(1))
        .cloned()
        .collect();
    let has_more = data.len() > limit;
    data.truncate(limit);
    Page { data, has_more }
}

fn add(total: &mut Money, amount: &Money) -> Result<(), StoreError> {
    *total = total
        .checked_add(amount)
        .map_err(|e| StoreError::Unavailable(format!("aggregate: {e}")))?;
    Ok(())
}

fn finalized_at(c: &Commission) -> Option<OffsetDateTime> {
    match c.state {
        CommissionState::Finalized { at } => Some(at),
        CommissionState::Pending
        | CommissionState::OnHold { .. }
        | CommissionState::Voided { .. } => None,
    }
}

fn state_totals<'a>(
    items: impl Iterator<Item = &'a PayoutItem>,
) -> Result<Vec<StateTotal>, StoreError> {
    let mut totals: BTreeMap<&'static str, StateTotal> = BTreeMap::new();
    for item in items {
        let name = item.state.as_str();
        let currency = item.amount.currency();
        let entry = totals.entry(name).or_insert_with(|| StateTotal {
            state: name.to_owned(),
            count: 0,
            amount: Money::zero(currency),
            reversed: Money::zero(currency),
        });
        entry.count = entry.count.saturating_add(1);
        add(&mut entry.amount, &item.amount)?;
        if let Some(reversed) = item.amount_reversed() {
            add(&mut entry.reversed, &reversed)?;
        }
    }
    Ok(totals.into_values().collect())
}

/// Like [`state_totals`], but one row per state and currency.
fn state_currency_totals<'a>(
    items: impl Iterator<Item = &'a PayoutItem>,
) -> Result<Vec<StateTotal>, StoreError> {
    let mut totals: BTreeMap<(&'static str, Currency), StateTotal> = BTreeMap::new();
    for item in items {
        let name = item.state.as_str();
        let currency = item.amount.currency();
        let entry = totals
            .entry((name, currency))
            .or_insert_with(|| StateTotal {
                state: name.to_owned(),
                count: 0,
                amount: Money::zero(currency),
                reversed: Money::zero(currency),
            });
        entry.count = entry.count.saturating_add(1);
        add(&mut entry.amount, &item.amount)?;
        if let Some(reversed) = item.amount_reversed() {
            add(&mut entry.reversed, &reversed)?;
        }
    }
    Ok(totals.into_values().collect())
}
