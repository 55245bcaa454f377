//! The in-memory store: every store port over one mutex-guarded state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::lock;
use crate::batch::{BatchState, PartnerBalance, PayoutBatch};
use crate::commission::{Commission, CommissionState, Conversion};
use crate::connection::{ConnectionStatus, MerchantConnection, OAuthState};
use crate::error::StoreError;
use crate::events::DisputeRecord;
use crate::fees::FeeSchedule;
use crate::ids::{
    AccountId, BatchId, CommissionId, ConversionId, CouponCode, DisputeId, EventId, ExternalId,
    MembershipId, MerchantId, NotificationId, PartnerId, PayoutItemId, ProgramId, PromotionCodeId,
    ReferralKey, StateToken, StripePayoutId, TransferId, WorkerId,
};
use crate::item::{ItemState, Lease, PayoutItem};
use crate::money::{Currency, Money};
use crate::notification::Notification;
use crate::partner::{Coupon, Membership};
use crate::period::Period;
use crate::ports::{
    AccountStore, BankPayout, BatchStore, CommissionFilter, CommissionStore, ConnectionStore,
    ConversionStore, DisputeStore, FailureKind, LeaseStore, LedgerRow, OutboxStore, Page,
    PageRequest, PartnerStore, ProgramStore, RequestKeyBegin, RequestKeyRecord, RequestKeyStatus,
    RequestKeyStore, SettingsStore, StateTotal, StoredDispute,
};
use crate::program::{HoldReason, Program, ProgramStatus};

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
    notification_keys: HashSet<String>,
    fee_schedule: Option<FeeSchedule>,
    events: HashSet<EventId>,
    disputes: HashMap<DisputeId, StoredDispute>,
    /// Lease name to holder and expiry.
    leases: HashMap<String, Lease>,
    account_owners: HashMap<AccountId, MerchantId>,
    request_keys: HashMap<(String, String), RequestKeyRecord>,
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
        CommissionState::Pending | CommissionState::Voided { .. } => None,
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

#[async_trait]
impl ConnectionStore for InMemoryStore {
    async fn connection(
        &self,
        merchant: &MerchantId,
    ) -> Result<Option<MerchantConnection>, StoreError> {
        Ok(lock(&self.state).connections.get(merchant).cloned())
    }

    async fn connection_by_account(
        &self,
        account: &AccountId,
    ) -> Result<Option<MerchantConnection>, StoreError> {
        Ok(lock(&self.state)
            .connections
            .values()
            .find(|c| c.account_id == *account)
            .cloned())
    }

    async fn save_connection(
        &self,
        next: &MerchantConnection,
        expected: Option<ConnectionStatus>,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let found = state.connections.get(&next.merchant_id).map(|c| c.status);
        if found != expected {
            let show = |s: Option<ConnectionStatus>| s.map_or("none", |s| s.as_str());
            return Err(conflict(
                "merchant connection",
                &next.merchant_id,
                show(expected),
                show(found),
            ));
        }
        let taken = state
            .connections
            .values()
            .any(|c| c.account_id == next.account_id && c.merchant_id != next.merchant_id);
        if taken {
            return Err(StoreError::Duplicate {
                entity: "merchant connection",
                key: next.account_id.to_string(),
            });
        }
        state
            .connections
            .insert(next.merchant_id.clone(), next.clone());
        Ok(())
    }

    async fn insert_oauth_state(&self, oauth: &OAuthState) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.oauth_states.contains_key(&oauth.token) {
            return Err(StoreError::Duplicate {
                entity: "oauth state",
                key: oauth.token.to_string(),
            });
        }
        state
            .oauth_states
            .insert(oauth.token.clone(), oauth.clone());
        Ok(())
    }

    async fn oauth_state(&self, token: &StateToken) -> Result<Option<OAuthState>, StoreError> {
        Ok(lock(&self.state).oauth_states.get(token).cloned())
    }

    async fn consume_oauth_state(
        &self,
        token: &StateToken,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .oauth_states
            .get_mut(token)
            .ok_or_else(|| not_found("oauth state", token))?;
        if stored.used_at.is_some() {
            return Err(conflict("oauth state", token, "unused", "used"));
        }
        stored.used_at = Some(at);
        Ok(())
    }
}

#[async_trait]
impl ProgramStore for InMemoryStore {
    async fn programs_page(
        &self,
        merchant: &MerchantId,
        page: PageRequest,
    ) -> Result<Page<Program>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(&state.programs, page, ProgramId::from, |p| {
            &p.merchant_id == merchant
        }))
    }

    async fn insert_program(&self, program: &Program) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.programs.contains_key(&program.id) {
            return Err(StoreError::Duplicate {
                entity: "program",
                key: program.id.to_string(),
            });
        }
        state.programs.insert(program.id, program.clone());
        Ok(())
    }

    async fn program(&self, id: ProgramId) -> Result<Option<Program>, StoreError> {
        Ok(lock(&self.state).programs.get(&id).cloned())
    }

    async fn programs_of(&self, merchant: &MerchantId) -> Result<Vec<Program>, StoreError> {
        Ok(lock(&self.state)
            .programs
            .values()
            .filter(|p| p.merchant_id == *merchant)
            .cloned()
            .collect())
    }

    async fn probation_expired(&self, now: OffsetDateTime) -> Result<Vec<Program>, StoreError> {
        Ok(lock(&self.state)
            .programs
            .values()
            .filter(|p| matches!(p.status, ProgramStatus::Probation { until } if until <= now))
            .cloned()
            .collect())
    }

    async fn active_programs(&self) -> Result<Vec<Program>, StoreError> {
        Ok(lock(&self.state)
            .programs
            .values()
            .filter(|p| p.status == ProgramStatus::Active)
            .cloned()
            .collect())
    }

    async fn update_program(
        &self,
        next: &Program,
        expected_status: &ProgramStatus,
        expected_hold: Option<HoldReason>,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .programs
            .get_mut(&next.id)
            .ok_or_else(|| not_found("program", next.id))?;
        if stored.status != *expected_status || stored.hold != expected_hold {
            return Err(conflict(
                "program",
                next.id,
                expected_status.as_str(),
                stored.status.as_str(),
            ));
        }
        *stored = next.clone();
        Ok(())
    }
}

#[async_trait]
impl PartnerStore for InMemoryStore {
    async fn memberships_page(
        &self,
        program: ProgramId,
        page: PageRequest,
    ) -> Result<Page<Membership>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(&state.memberships, page, MembershipId::from, |m| {
            m.program_id == program
        }))
    }

    async fn insert_membership(&self, membership: &Membership) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let clash = state.memberships.values().find(|m| {
            m.program_id == membership.program_id
                && (m.referral_key == membership.referral_key
                    || m.partner_id == membership.partner_id)
        });
        if let Some(existing) = clash {
            let key = if existing.referral_key == membership.referral_key {
                format!("referral key {}", membership.referral_key)
            } else {
                format!("partner {}", membership.partner_id)
            };
            return Err(StoreError::Duplicate {
                entity: "membership",
                key,
            });
        }
        state.memberships.insert(membership.id, membership.clone());
        Ok(())
    }

    async fn membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError> {
        Ok(lock(&self.state).memberships.get(&id).cloned())
    }

    async fn membership_by_referral(
        &self,
        program: ProgramId,
        key: &ReferralKey,
    ) -> Result<Option<Membership>, StoreError> {
        Ok(lock(&self.state)
            .memberships
            .values()
            .find(|m| m.program_id == program && m.referral_key == *key)
            .cloned())
    }

    async fn memberships_by_account(
        &self,
        account: &AccountId,
    ) -> Result<Vec<Membership>, StoreError> {
        Ok(lock(&self.state)
            .memberships
            .values()
            .filter(|m| m.account_id.as_ref() == Some(account))
            .cloned()
            .collect())
    }

    async fn memberships_of(&self, program: ProgramId) -> Result<Vec<Membership>, StoreError> {
        Ok(lock(&self.state)
            .memberships
            .values()
            .filter(|m| m.program_id == program)
            .cloned()
            .collect())
    }

    async fn memberships_of_partner(
        &self,
        partner: PartnerId,
    ) -> Result<Vec<Membership>, StoreError> {
        Ok(lock(&self.state)
            .memberships
            .values()
            .filter(|m| m.partner_id == partner)
            .cloned()
            .collect())
    }

    async fn update_membership(&self, membership: &Membership) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .memberships
            .get_mut(&membership.id)
            .ok_or_else(|| not_found("membership", membership.id))?;
        stored.account_id = membership.account_id.clone();
        stored.onboarding = membership.onboarding;
        Ok(())
    }

    async fn insert_coupon(&self, coupon: &Coupon) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let key = (coupon.merchant_id.clone(), coupon.code.normalized());
        if state.coupons.contains_key(&key) {
            return Err(StoreError::Duplicate {
                entity: "coupon code",
                key: coupon.code.normalized(),
            });
        }
        state.coupons.insert(key, coupon.clone());
        Ok(())
    }

    async fn coupon(
        &self,
        merchant: &MerchantId,
        code: &CouponCode,
    ) -> Result<Option<Coupon>, StoreError> {
        Ok(lock(&self.state)
            .coupons
            .get(&(merchant.clone(), code.normalized()))
            .cloned())
    }

    async fn coupon_by_promotion_code(
        &self,
        promotion_code: &PromotionCodeId,
    ) -> Result<Option<Coupon>, StoreError> {
        Ok(lock(&self.state)
            .coupons
            .values()
            .find(|c| c.promotion_code_id.as_ref() == Some(promotion_code))
            .cloned())
    }

    async fn update_coupon(&self, coupon: &Coupon) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .coupons
            .get_mut(&(coupon.merchant_id.clone(), coupon.code.normalized()))
            .ok_or_else(|| not_found("coupon code", &coupon.code))?;
        stored.promotion_code_id = coupon.promotion_code_id.clone();
        stored.active = coupon.active;
        Ok(())
    }

    async fn upsert_bank_payout(&self, payout: &BankPayout) -> Result<(), StoreError> {
        lock(&self.state)
            .bank_payouts
            .insert(payout.payout_id.clone(), payout.clone());
        Ok(())
    }

    async fn bank_payouts(&self, account: &AccountId) -> Result<Vec<BankPayout>, StoreError> {
        let mut payouts: Vec<BankPayout> = lock(&self.state)
            .bank_payouts
            .values()
            .filter(|p| p.account_id == *account)
            .cloned()
            .collect();
        payouts.sort_by_key(|p| std::cmp::Reverse(p.updated_at));
        Ok(payouts)
    }
}

#[async_trait]
impl ConversionStore for InMemoryStore {
    async fn insert_conversion(
        &self,
        conversion: &Conversion,
        commission: Option<&Commission>,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let duplicate = state.conversions.values().any(|c| {
            c.merchant_id == conversion.merchant_id && c.external_id == conversion.external_id
        });
        if duplicate {
            return Err(StoreError::Duplicate {
                entity: "conversion",
                key: conversion.external_id.to_string(),
            });
        }
        if let Some(c) = commission {
            if state.commissions.contains_key(&c.id) {
                return Err(StoreError::Duplicate {
                    entity: "commission",
                    key: c.id.to_string(),
                });
            }
            state.commissions.insert(c.id, c.clone());
        }
        state.conversions.insert(conversion.id, conversion.clone());
        Ok(())
    }

    async fn conversion(&self, id: ConversionId) -> Result<Option<Conversion>, StoreError> {
        Ok(lock(&self.state).conversions.get(&id).cloned())
    }

    async fn conversion_by_external_id(
        &self,
        merchant: &MerchantId,
        external_id: &ExternalId,
    ) -> Result<Option<Conversion>, StoreError> {
        Ok(lock(&self.state)
            .conversions
            .values()
            .find(|c| c.merchant_id == *merchant && c.external_id == *external_id)
            .cloned())
    }

    async fn conversion_by_payment_ref(
        &self,
        merchant: &MerchantId,
        payment_ref: &str,
    ) -> Result<Option<Conversion>, StoreError> {
        Ok(lock(&self.state)
            .conversions
            .values()
            .find(|c| c.merchant_id == *merchant && c.payment_ref.as_deref() == Some(payment_ref))
            .cloned())
    }

    async fn first_conversion_at(
        &self,
        program: ProgramId,
        customer_ref: &str,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(lock(&self.state)
            .conversions
            .values()
            .filter(|c| c.program_id == program && c.customer_ref.as_deref() == Some(customer_ref))
            .map(|c| c.occurred_at)
            .min())
    }

    async fn update_conversion(
        &self,
        next: &Conversion,
        expected_refunded: &Money,
        expected_cancelled: bool,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .conversions
            .get_mut(&next.id)
            .ok_or_else(|| not_found("conversion", next.id))?;
        if stored.refunded != *expected_refunded || stored.cancelled != expected_cancelled {
            return Err(conflict(
                "conversion",
                next.id,
                &format!("refunded {expected_refunded}"),
                &format!("refunded {}", stored.refunded),
            ));
        }
        stored.refunded = next.refunded;
        stored.cancelled = next.cancelled;
        Ok(())
    }

    async fn monthly_volume(
        &self,
        merchant: &MerchantId,
        period: Period,
        currency: Currency,
    ) -> Result<Money, StoreError> {
        let state = lock(&self.state);
        let mut total = Money::zero(currency);
        for c in state.conversions.values() {
            if c.merchant_id == *merchant
                && c.amount.currency() == currency
                && Period::containing(c.occurred_at) == period
            {
                add(&mut total, &c.amount)?;
            }
        }
        Ok(total)
    }
}

#[async_trait]
impl CommissionStore for InMemoryStore {
    async fn insert_commission(&self, commission: &Commission) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.commissions.contains_key(&commission.id) {
            return Err(StoreError::Duplicate {
                entity: "commission",
                key: commission.id.to_string(),
            });
        }
        state.commissions.insert(commission.id, commission.clone());
        Ok(())
    }

    async fn commission(&self, id: CommissionId) -> Result<Option<Commission>, StoreError> {
        Ok(lock(&self.state).commissions.get(&id).cloned())
    }

    async fn commissions_of_conversion(
        &self,
        conversion: ConversionId,
    ) -> Result<Vec<Commission>, StoreError> {
        Ok(lock(&self.state)
            .commissions
            .values()
            .filter(|c| c.conversion_id == conversion)
            .cloned()
            .collect())
    }

    async fn update_commission(
        &self,
        next: &Commission,
        expected_state: &CommissionState,
        expected_amount: &Money,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .commissions
            .get_mut(&next.id)
            .ok_or_else(|| not_found("commission", next.id))?;
        if stored.state != *expected_state || stored.amount != *expected_amount {
            return Err(conflict(
                "commission",
                next.id,
                expected_state.as_str(),
                stored.state.as_str(),
            ));
        }
        *stored = next.clone();
        Ok(())
    }

    async fn finalize_due(
        &self,
        program: ProgramId,
        period: Period,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut state = lock(&self.state);
        let mut count = 0_u64;
        for c in state.commissions.values_mut() {
            if c.program_id == program
                && c.state == CommissionState::Pending
                && c.period <= period
                && c.hold_until <= now
            {
                c.state = CommissionState::Finalized { at: now };
                count = count.saturating_add(1);
            }
        }
        Ok(count)
    }

    async fn list_commissions(
        &self,
        filter: &CommissionFilter,
        page: PageRequest,
    ) -> Result<Page<Commission>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(
            &state.commissions,
            page,
            CommissionId::from_uuid,
            |c| {
                filter
                    .merchant_id
                    .as_ref()
                    .is_none_or(|m| c.merchant_id == *m)
                    && filter.program_id.is_none_or(|p| c.program_id == p)
                    && filter.partner_id.is_none_or(|p| c.partner_id == p)
                    && filter
                        .state
                        .as_deref()
                        .is_none_or(|s| c.state.as_str() == s)
                    && filter.period.is_none_or(|p| c.period == p)
                    && filter
                        .payout_item_id
                        .is_none_or(|i| c.payout_item_id == Some(i))
            },
        ))
    }

    async fn partner_balances(
        &self,
        program: ProgramId,
        period: Period,
        as_of: OffsetDateTime,
    ) -> Result<Vec<PartnerBalance>, StoreError> {
        let state = lock(&self.state);
        let mut balances: BTreeMap<MembershipId, PartnerBalance> = BTreeMap::new();
        for c in state.commissions.values() {
            let eligible = c.program_id == program
                && c.payout_item_id.is_none()
                && c.period <= period
                && finalized_at(c).is_some_and(|at| at <= as_of);
            if !eligible {
                continue;
            }
            let entry = balances
                .entry(c.membership_id)
                .or_insert_with(|| PartnerBalance {
                    membership_id: c.membership_id,
                    partner_id: c.partner_id,
                    net: Money::zero(c.amount.currency()),
                    commission_count: 0,
                });
            add(&mut entry.net, &c.amount)?;
            entry.commission_count = entry.commission_count.saturating_add(1);
        }
        Ok(balances.into_values().collect())
    }

    async fn ledger(&self, program: ProgramId) -> Result<Vec<LedgerRow>, StoreError> {
        let state = lock(&self.state);
        let mut rows: BTreeMap<(Period, Option<&'static str>), Money> = BTreeMap::new();
        for c in state.commissions.values() {
            if c.program_id != program || finalized_at(c).is_none() {
                continue;
            }
            let item_state = c
                .payout_item_id
                .and_then(|id| state.items.get(&id))
                .map(|i| i.state.as_str());
            let total = rows
                .entry((c.period, item_state))
                .or_insert_with(|| Money::zero(c.amount.currency()));
            add(total, &c.amount)?;
        }
        Ok(rows
            .into_iter()
            .map(|((period, item_state), amount)| LedgerRow {
                period,
                item_state: item_state.map(str::to_owned),
                amount,
            })
            .collect())
    }

    async fn finalized_totals(
        &self,
        program: ProgramId,
    ) -> Result<Vec<(Period, Money)>, StoreError> {
        let state = lock(&self.state);
        let mut totals: BTreeMap<Period, Money> = BTreeMap::new();
        for c in state.commissions.values() {
            if c.program_id == program && finalized_at(c).is_some() {
                let total = totals
                    .entry(c.period)
                    .or_insert_with(|| Money::zero(c.amount.currency()));
                add(total, &c.amount)?;
            }
        }
        Ok(totals.into_iter().collect())
    }
}

#[async_trait]
impl BatchStore for InMemoryStore {
    async fn batches_page(
        &self,
        program: ProgramId,
        page: PageRequest,
    ) -> Result<Page<PayoutBatch>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(&state.batches, page, BatchId::from, |b| {
            b.program_id == program
        }))
    }

    async fn insert_batch(
        &self,
        batch: &PayoutBatch,
        items: &[PayoutItem],
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let exists = state
            .batches
            .values()
            .any(|b| b.program_id == batch.program_id && b.period == batch.period);
        if exists {
            return Err(StoreError::Duplicate {
                entity: "batch",
                key: format!("{} {}", batch.program_id, batch.period),
            });
        }
        // Link first on a copy, so that a mismatch writes nothing.
        let mut links: Vec<(CommissionId, PayoutItemId)> = Vec::new();
        for item in items {
            let mut sum = Money::zero(item.amount.currency());
            for c in state.commissions.values() {
                let eligible = c.program_id == batch.program_id
                    && c.membership_id == item.membership_id
                    && c.payout_item_id.is_none()
                    && c.period <= batch.period
                    && finalized_at(c).is_some_and(|at| at <= batch.as_of);
                if eligible {
                    add(&mut sum, &c.amount)?;
                    links.push((c.id, item.id));
                }
            }
            if sum != item.amount {
                return Err(conflict(
                    "batch",
                    batch.id,
                    &item.amount.to_string(),
                    &sum.to_string(),
                ));
            }
        }
        for (commission, item) in links {
            if let Some(c) = state.commissions.get_mut(&commission) {
                c.payout_item_id = Some(item);
            }
        }
        for item in items {
            state.items.insert(item.id, item.clone());
        }
        state.batches.insert(batch.id, batch.clone());
        Ok(())
    }

    async fn batch(&self, id: BatchId) -> Result<Option<PayoutBatch>, StoreError> {
        Ok(lock(&self.state).batches.get(&id).cloned())
    }

    async fn batches_of(&self, program: ProgramId) -> Result<Vec<PayoutBatch>, StoreError> {
        let mut batches: Vec<PayoutBatch> = lock(&self.state)
            .batches
            .values()
            .filter(|b| b.program_id == program)
            .cloned()
            .collect();
        batches.sort_by_key(|b| std::cmp::Reverse(b.period));
        Ok(batches)
    }

    async fn batches_in_state(&self, wanted: BatchState) -> Result<Vec<PayoutBatch>, StoreError> {
        Ok(lock(&self.state)
            .batches
            .values()
            .filter(|b| b.state == wanted)
            .cloned()
            .collect())
    }

    async fn update_batch(
        &self,
        next: &PayoutBatch,
        expected: BatchState,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .batches
            .get_mut(&next.id)
            .ok_or_else(|| not_found("batch", next.id))?;
        if stored.state != expected {
            return Err(conflict(
                "batch",
                next.id,
                expected.as_str(),
                stored.state.as_str(),
            ));
        }
        *stored = next.clone();
        Ok(())
    }

    async fn item(&self, id: PayoutItemId) -> Result<Option<PayoutItem>, StoreError> {
        Ok(lock(&self.state).items.get(&id).cloned())
    }

    async fn items(
        &self,
        batch: BatchId,
        page: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(&state.items, page, PayoutItemId::from_uuid, |i| {
            i.batch_id == batch
        }))
    }

    async fn claim_items(
        &self,
        batch: BatchId,
        worker: &WorkerId,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<PayoutItem>, StoreError> {
        let mut state = lock(&self.state);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut claimed = Vec::new();
        for item in state.items.values_mut() {
            if claimed.len() >= limit {
                break;
            }
            let open = matches!(
                item.state,
                ItemState::Pending
                    | ItemState::Submitting { .. }
                    | ItemState::ReconcileRequired { .. }
            );
            let free = item.lease.as_ref().is_none_or(|l| l.until <= now);
            if item.batch_id == batch && open && free {
                item.lease = Some(Lease {
                    worker: worker.clone(),
                    until: lease_until,
                });
                claimed.push(item.clone());
            }
        }
        Ok(claimed)
    }

    async fn transition_item(
        &self,
        next: &PayoutItem,
        expected: &ItemState,
        notifications: &[Notification],
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .items
            .get_mut(&next.id)
            .ok_or_else(|| not_found("payout item", next.id))?;
        if stored.state != *expected {
            return Err(conflict(
                "payout item",
                next.id,
                expected.as_str(),
                stored.state.as_str(),
            ));
        }
        stored.state = next.state.clone();
        stored.lease = next.lease.clone();
        stored.resends = next.resends;
        state.enqueue(notifications);
        Ok(())
    }

    async fn items_due_for_retry(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<PayoutItem>, StoreError> {
        let state = lock(&self.state);
        let mut due: Vec<PayoutItem> = state
            .items
            .values()
            .filter(
                |i| matches!(i.state, ItemState::Failed { retry_at: Some(at), .. } if at <= now),
            )
            .cloned()
            .collect();
        due.sort_by_key(|i| match i.state {
            ItemState::Failed { retry_at, .. } => retry_at,
            _ => None,
        });
        due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(due)
    }

    async fn items_waiting_for_merchant(
        &self,
        program: ProgramId,
    ) -> Result<Vec<PayoutItem>, StoreError> {
        Ok(lock(&self.state)
            .items
            .values()
            .filter(|i| {
                i.program_id == program
                    && matches!(&i.state, ItemState::Failed { failure, retry_at: None, .. } if failure.kind == FailureKind::AccountInactive)
            })
            .cloned()
            .collect())
    }

    async fn items_in_flight(&self, batch: BatchId) -> Result<Vec<PayoutItem>, StoreError> {
        Ok(lock(&self.state)
            .items
            .values()
            .filter(|i| {
                i.batch_id == batch
                    && matches!(
                        i.state,
                        ItemState::Submitting { .. } | ItemState::ReconcileRequired { .. }
                    )
            })
            .cloned()
            .collect())
    }

    async fn item_by_transfer(
        &self,
        transfer: &TransferId,
    ) -> Result<Option<PayoutItem>, StoreError> {
        Ok(lock(&self.state)
            .items
            .values()
            .find(|i| match &i.state {
                ItemState::Posted { transfer_id, .. } | ItemState::Reversed { transfer_id, .. } => {
                    transfer_id == transfer
                }
                _ => false,
            })
            .cloned())
    }

    async fn item_totals(&self, batch: BatchId) -> Result<Vec<StateTotal>, StoreError> {
        let state = lock(&self.state);
        state_totals(state.items.values().filter(|i| i.batch_id == batch))
    }

    async fn program_item_totals(&self, program: ProgramId) -> Result<Vec<StateTotal>, StoreError> {
        let state = lock(&self.state);
        state_totals(state.items.values().filter(|i| i.program_id == program))
    }

    async fn item_state_counts(&self) -> Result<Vec<StateTotal>, StoreError> {
        let state = lock(&self.state);
        state_currency_totals(state.items.values())
    }

    async fn items_of_partner(
        &self,
        partner: PartnerId,
        page: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(&state.items, page, PayoutItemId::from_uuid, |i| {
            i.partner_id == partner
        }))
    }

    async fn item_commission_ids(
        &self,
        item: PayoutItemId,
    ) -> Result<Vec<CommissionId>, StoreError> {
        Ok(lock(&self.state)
            .commissions
            .values()
            .filter(|c| c.payout_item_id == Some(item))
            .map(|c| c.id)
            .collect())
    }
}

#[async_trait]
impl OutboxStore for InMemoryStore {
    async fn enqueue(&self, notifications: &[Notification]) -> Result<u64, StoreError> {
        Ok(lock(&self.state).enqueue(notifications))
    }

    async fn undelivered(&self, limit: u32) -> Result<Vec<Notification>, StoreError> {
        Ok(lock(&self.state)
            .notifications
            .iter()
            .filter(|n| n.delivered_at.is_none())
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn mark_delivered(
        &self,
        id: NotificationId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let n = state
            .notifications
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or_else(|| not_found("notification", id))?;
        n.delivered_at = Some(at);
        Ok(())
    }

    async fn notifications_of(
        &self,
        merchant: &MerchantId,
    ) -> Result<Vec<Notification>, StoreError> {
        Ok(lock(&self.state)
            .notifications
            .iter()
            .filter(|n| n.merchant_id == *merchant)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl SettingsStore for InMemoryStore {
    async fn fee_schedule(&self) -> Result<FeeSchedule, StoreError> {
        Ok(lock(&self.state).fee_schedule.clone().unwrap_or_default())
    }

    async fn save_fee_schedule(&self, schedule: &FeeSchedule) -> Result<(), StoreError> {
        lock(&self.state).fee_schedule = Some(schedule.clone());
        Ok(())
    }

    async fn record_event(&self, id: &EventId, _at: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(lock(&self.state).events.insert(id.clone()))
    }

    async fn forget_event(&self, id: &EventId) -> Result<bool, StoreError> {
        Ok(lock(&self.state).events.remove(id))
    }
}

#[async_trait]
impl DisputeStore for InMemoryStore {
    async fn upsert_dispute(
        &self,
        account: Option<&AccountId>,
        dispute: &DisputeRecord,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if let Some(stored) = state.disputes.get(&dispute.dispute_id)
            && stored.updated_at > at
        {
            return Ok(false);
        }
        state.disputes.insert(
            dispute.dispute_id.clone(),
            StoredDispute {
                account_id: account.cloned(),
                dispute: dispute.clone(),
                updated_at: at,
            },
        );
        Ok(true)
    }

    async fn disputes(&self, limit: u32) -> Result<Vec<StoredDispute>, StoreError> {
        let mut disputes: Vec<StoredDispute> =
            lock(&self.state).disputes.values().cloned().collect();
        disputes.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| a.dispute.dispute_id.cmp(&b.dispute.dispute_id))
        });
        disputes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(disputes)
    }
}

#[async_trait]
impl LeaseStore for InMemoryStore {
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &WorkerId,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<bool, StoreError> {
        let until = now
            .checked_add(ttl)
            .ok_or_else(|| StoreError::Unavailable(format!("lease {name}: now + ttl overflows")))?;
        let mut state = lock(&self.state);
        let free = state
            .leases
            .get(name)
            .is_none_or(|l| l.until <= now || l.worker == *holder);
        if free {
            state.leases.insert(
                name.to_owned(),
                Lease {
                    worker: holder.clone(),
                    until,
                },
            );
        }
        Ok(free)
    }

    async fn release_lease(&self, name: &str, holder: &WorkerId) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if state.leases.get(name).is_some_and(|l| l.worker == *holder) {
            state.leases.remove(name);
            return Ok(true);
        }
        Ok(false)
    }
}

#[async_trait]
impl AccountStore for InMemoryStore {
    async fn record_account_owner(
        &self,
        account: &AccountId,
        merchant: &MerchantId,
        _at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        match state.account_owners.get(account) {
            Some(owner) if owner != merchant => Err(StoreError::Conflict {
                entity: "connected account",
                id: account.to_string(),
                detail: "owned by another merchant".to_owned(),
            }),
            Some(_) => Ok(()),
            None => {
                state
                    .account_owners
                    .insert(account.clone(), merchant.clone());
                Ok(())
            }
        }
    }

    async fn account_owner(&self, account: &AccountId) -> Result<Option<MerchantId>, StoreError> {
        Ok(lock(&self.state).account_owners.get(account).cloned())
    }
}

#[async_trait]
impl RequestKeyStore for InMemoryStore {
    async fn begin_request(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: OffsetDateTime,
    ) -> Result<RequestKeyBegin, StoreError> {
        let mut state = lock(&self.state);
        let id = (scope.to_owned(), key.to_owned());
        if let Some(existing) = state.request_keys.get(&id) {
            return Ok(RequestKeyBegin::Existing(existing.clone()));
        }
        state.request_keys.insert(
            id,
            RequestKeyRecord {
                scope: scope.to_owned(),
                key: key.to_owned(),
                request_hash: request_hash.to_owned(),
                status: RequestKeyStatus::InProgress,
                response_status: None,
                response_body: None,
                created_at: now,
                completed_at: None,
            },
        );
        Ok(RequestKeyBegin::Started)
    }

    async fn complete_request(
        &self,
        scope: &str,
        key: &str,
        response_status: u16,
        response_body: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        match state
            .request_keys
            .get_mut(&(scope.to_owned(), key.to_owned()))
        {
            Some(r) if r.status == RequestKeyStatus::InProgress => {
                r.status = RequestKeyStatus::Completed;
                r.response_status = Some(response_status);
                r.response_body = Some(response_body.to_owned());
                r.completed_at = Some(now);
                Ok(())
            }
            Some(r) => Err(conflict(
                "idempotency key",
                key,
                "in_progress",
                r.status.as_str(),
            )),
            None => Err(not_found("idempotency key", key)),
        }
    }

    async fn release_request(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let id = (scope.to_owned(), key.to_owned());
        if state
            .request_keys
            .get(&id)
            .is_some_and(|r| r.status == RequestKeyStatus::InProgress)
        {
            state.request_keys.remove(&id);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<&'static str, StoreError> {
        drop(lock(&self.state));
        Ok("memory")
    }
}
