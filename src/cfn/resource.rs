//! What a resource type is to the protocol: a value that answers create, update, delete.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::time::Instant;

use super::properties::{FromProperties, InvalidProperties, Problem};
use super::request::{Action, OwnerId, Request};
use super::response::Outcome;
use super::view::View;

/// One request being served, with the time by which the work must be done.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request: Request,
    /// Work still running at this instant is abandoned and answered "timed out".
    pub work_deadline: Instant,
    /// What this request has made so far (shared with the dispatcher, which outlives
    /// abandoned work).
    made: Arc<Mutex<Option<String>>>,
}

impl Invocation {
    pub fn new(request: Request, work_deadline: Instant) -> Self {
        Invocation {
            request,
            work_deadline,
            made: Arc::default(),
        }
    }

    /// Records that this request created the entity `physical_id`. Should the request
    /// then fail, time out or panic, CloudFormation is answered with this id instead of
    /// the failed-create marker, so that its rollback Delete removes the entity.
    pub fn made(&self, physical_id: &str) {
        *self.made.lock().unwrap_or_else(PoisonError::into_inner) = Some(physical_id.to_string());
    }

    /// The entity recorded by [`Invocation::made`] was removed again.
    pub fn unmade(&self) {
        *self.made.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    pub fn made_id(&self) -> Option<String> {
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The account of the stack (12 digits), from its ARN.
    pub fn account(&self) -> &str {
        self.stack_id().split(':').nth(4).unwrap_or_default()
    }

    /// The stack's id: its ARN, which names the partition and region.
    pub fn stack_id(&self) -> &str {
        &self.request.reply_to.stack_id
    }

    pub fn owner(&self) -> OwnerId {
        self.request.owner()
    }

    pub fn time_left(&self) -> std::time::Duration {
        self.work_deadline.saturating_duration_since(Instant::now())
    }
}

/// Why a request failed; its text becomes the response's `Reason`.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Invalid(#[from] InvalidProperties),
    #[error(transparent)]
    Resource(Box<dyn std::error::Error + Send + Sync>),
}

impl Failure {
    pub fn resource(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Failure::Resource(Box::new(error))
    }
}

/// A resource type with typed properties. Properties are read and validated before any of
/// these methods runs, so none of them sees invalid input.
pub trait Resource: Send + Sync + 'static {
    /// The `ResourceType` this answers, e.g. `Custom::BucketCors`.
    const TYPE: &'static str;
    type Properties: FromProperties + Send + Sync;

    /// Whether this type could have produced `physical_id`. A Delete of any other id (one
    /// CloudFormation invented when it cancelled a Create) is answered with no AWS call.
    fn recognizes(&self, physical_id: &str) -> bool;

    /// What the function's deployer does not allow in these properties, each problem with
    /// its path. Checked with the validation, before any AWS call, on Create and Update;
    /// never on Delete, so that clean-up always works.
    fn guard(&self, _invocation: &Invocation, _properties: &Self::Properties) -> Vec<Problem> {
        Vec::new()
    }

    fn create(
        &self,
        invocation: &Invocation,
        properties: Self::Properties,
    ) -> impl Future<Output = Result<Outcome, Failure>> + Send;

    /// A different physical id in the outcome means replacement: CloudFormation then
    /// deletes the old one. `old` is `None` when the old properties no longer read.
    fn update(
        &self,
        invocation: &Invocation,
        physical_id: &str,
        properties: Self::Properties,
        old: Option<Self::Properties>,
    ) -> impl Future<Output = Result<Outcome, Failure>> + Send;

    /// `properties` is `None` when they no longer read; delete what can still be found.
    fn delete(
        &self,
        invocation: &Invocation,
        physical_id: &str,
        properties: Option<Self::Properties>,
    ) -> impl Future<Output = Result<(), Failure>> + Send;

    /// What a Create or Update would leave, written nowhere. With `reading`, what exists is
    /// read (a bucket's documents, a bucket's KMS key) and the view is exact; without, no
    /// AWS call is made and what only AWS knows is said in the notes.
    fn planned(
        &self,
        _invocation: &Invocation,
        _properties: &Self::Properties,
        _reading: bool,
    ) -> impl Future<Output = Result<View, Failure>> + Send {
        async { Ok(View::default()) }
    }

    /// What is there now, in the shape of [`Resource::planned`], for the resource
    /// CloudFormation knows as `physical_id`.
    fn current(
        &self,
        _invocation: &Invocation,
        _properties: &Self::Properties,
        _physical_id: &str,
    ) -> impl Future<Output = Result<View, Failure>> + Send {
        async { Ok(View::default()) }
    }
}

/// The properties of the request, read and checked against what the deployer allows,
/// exactly as Create and Update check them before any AWS call.
pub fn read_and_guard<R: Resource>(
    resource: &R,
    invocation: &Invocation,
) -> Result<R::Properties, InvalidProperties> {
    let properties = R::Properties::from_properties(&invocation.request.properties)?;
    let problems = resource.guard(invocation, &properties);
    match problems.is_empty() {
        true => Ok(properties),
        false => Err(InvalidProperties(problems)),
    }
}

/// The object-safe face of a [`Resource`], as the dispatcher sees it.
#[async_trait]
pub trait ResourceType: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn recognizes(&self, physical_id: &str) -> bool;
    async fn handle(&self, invocation: &Invocation) -> Result<Outcome, Failure>;
    /// See [`Resource::planned`]; invalid properties are a [`Failure::Invalid`].
    async fn planned(&self, invocation: &Invocation, reading: bool) -> Result<View, Failure>;
    /// See [`Resource::current`].
    async fn current(&self, invocation: &Invocation, physical_id: &str) -> Result<View, Failure>;
}

#[async_trait]
impl<R: Resource> ResourceType for R {
    fn type_name(&self) -> &'static str {
        R::TYPE
    }

    fn recognizes(&self, physical_id: &str) -> bool {
        Resource::recognizes(self, physical_id)
    }

    async fn handle(&self, invocation: &Invocation) -> Result<Outcome, Failure> {
        let request = &invocation.request;
        let read = || R::Properties::from_properties(&request.properties);
        let read_and_guard = || read_and_guard(self, invocation);
        match &request.action {
            Action::Create => self.create(invocation, read_and_guard()?).await,
            Action::Update {
                physical_id,
                old_properties,
            } => {
                let properties = read_and_guard()?;
                let old = R::Properties::from_properties(old_properties).ok();
                self.update(invocation, physical_id, properties, old).await
            }
            Action::Delete { physical_id } => {
                self.delete(invocation, physical_id, read().ok()).await?;
                Ok(Outcome::new(physical_id.clone()))
            }
        }
    }

    async fn planned(&self, invocation: &Invocation, reading: bool) -> Result<View, Failure> {
        let properties = read_and_guard(self, invocation)?;
        Resource::planned(self, invocation, &properties, reading).await
    }

    async fn current(&self, invocation: &Invocation, physical_id: &str) -> Result<View, Failure> {
        let properties = read_and_guard(self, invocation)?;
        Resource::current(self, invocation, &properties, physical_id).await
    }
}

/// The resource types this function serves.
#[derive(Default, Clone)]
pub struct Registry {
    types: Vec<Arc<dyn ResourceType>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, resource_type: impl ResourceType + 'static) -> Self {
        self.types.push(Arc::new(resource_type));
        self
    }

    pub fn find(&self, name: &str) -> Option<Arc<dyn ResourceType>> {
        self.types.iter().find(|t| t.type_name() == name).cloned()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.types.iter().map(|t| t.type_name()).collect()
    }
}
