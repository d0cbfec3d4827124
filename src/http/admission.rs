//! Admission, written once: every vendor's call passes the same three gates before its
//! body is read, in the same order, and a refusal is answered in the vendor's envelope.
//!
//! 1. **Credentials** ([`Admission::authenticate`]), compared in constant time; nothing
//!    but the credentials (and, for IMKit's `/me`, whose token it is) is looked at.
//! 2. **Rate** ([`Admission::within_rate`]): the caller's allowance, spent only by calls
//!    whose credentials hold.
//! 3. **What the call names** ([`Admission::admit`]): the path, and whether the directory
//!    knows the room or client it names.
//!
//! A vendor configures the gates by implementing [`Admission`] for its call type; a
//! handler takes [`Admitted<ItsCall>`].

use std::future::Future;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;

use super::{Directory, Shared};

/// One vendor's gates. `Self` is what a handler gets once all of them passed.
pub(crate) trait Admission<D: Directory>: Sized + Send {
    /// Who is calling, once the credentials hold.
    type Caller: Send;
    /// Why a call was refused.
    type Refusal: Send;

    /// Checks the call's credentials.
    fn authenticate(
        parts: &mut Parts,
        shared: &Arc<Shared<D>>,
    ) -> impl Future<Output = Result<Self::Caller, Self::Refusal>> + Send;

    /// Spends one call of the caller's allowance (no limit by default).
    fn within_rate(_caller: &Self::Caller, _shared: &Shared<D>) -> Result<(), Self::Refusal> {
        Ok(())
    }

    /// Reads what the call names (path, directory) into the admitted call.
    fn admit(
        caller: Self::Caller,
        parts: &mut Parts,
        shared: &Arc<Shared<D>>,
    ) -> impl Future<Output = Result<Self, Self::Refusal>> + Send;

    /// The refusal in the vendor's envelope.
    fn refuse(refusal: Self::Refusal, shared: &Shared<D>) -> Response;
}

/// A call that passed its vendor's gates (an axum extractor that runs before the body is
/// read).
pub(crate) struct Admitted<T>(pub T);

impl<D: Directory, T: Admission<D>> FromRequestParts<Arc<Shared<D>>> for Admitted<T> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared<D>>,
    ) -> Result<Self, Response> {
        let gates = async {
            let caller = T::authenticate(parts, shared).await?;
            T::within_rate(&caller, shared)?;
            T::admit(caller, parts, shared).await
        };
        gates
            .await
            .map(Admitted)
            .map_err(|refusal| T::refuse(refusal, shared))
    }
}
