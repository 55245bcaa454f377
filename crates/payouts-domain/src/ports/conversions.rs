//! `ConversionStore`: conversions (sales and refunds).

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::commission::{Commission, Conversion};
use crate::error::StoreError;
use crate::ids::{ConversionId, ExternalId, MerchantId, ProgramId};
use crate::money::{Currency, Money};
use crate::period::Period;

/// Conversions.
#[async_trait]
pub trait ConversionStore: Send + Sync {
    /// Inserts a conversion and the commission it earned, atomically.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the merchant already has the external id.
    async fn insert_conversion(
        &self,
        conversion: &Conversion,
        commission: Option<&Commission>,
    ) -> Result<(), StoreError>;

    /// A conversion by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn conversion(&self, id: ConversionId) -> Result<Option<Conversion>, StoreError>;

    /// A merchant's conversion by its external id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn conversion_by_external_id(
        &self,
        merchant: &MerchantId,
        external_id: &ExternalId,
    ) -> Result<Option<Conversion>, StoreError>;

    /// A merchant's conversion by its Stripe payment reference.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn conversion_by_payment_ref(
        &self,
        merchant: &MerchantId,
        payment_ref: &str,
    ) -> Result<Option<Conversion>, StoreError>;

    /// When this customer first converted in the program, if ever.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn first_conversion_at(
        &self,
        program: ProgramId,
        customer_ref: &str,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Records a new cumulative refund and cancellation flag (nothing else),
    /// if the stored values are still `expected_refunded` and `expected_cancelled`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::NotFound`].
    async fn update_conversion(
        &self,
        next: &Conversion,
        expected_refunded: &Money,
        expected_cancelled: bool,
    ) -> Result<(), StoreError>;

    /// The merchant's conversion volume in a period, in `currency`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn monthly_volume(
        &self,
        merchant: &MerchantId,
        period: Period,
        currency: Currency,
    ) -> Result<Money, StoreError>;
}
