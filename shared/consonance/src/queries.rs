//! The GraphQL documents the client sends. Field and argument names are from the schema pages at
//! graphql-schema.consonance.app (ProductSearchAttributes, WorkSearchAttributes,
//! CreateSupportingResourceInput, SupportingResource, WebLink, ONIXWebsiteRoleCode) and the
//! GeneralProducts/consonance-graphql examples (`work(workSearch:{idEq:})`,
//! `product(productSearch:{isbn13Eq:})`, `contract(contractSearch:{idEq:})`,
//! `work{productionRuns{deliveryDate}}`). Names marked UNCONFIRMED are inferred.

/// Fields read for every supporting resource. `resourceVariant`/`status` mirror the input names.
macro_rules! resource_fields {
    () => {
        "id imageRemoteUrl isProcessing filename productIds caption createdAt resourceVariant status"
    };
}

/// Fields read for every product (interface fields only, so any implementation answers).
macro_rules! product_fields {
    () => {
        concat!(
            "__typename id isbn { isbn13 } fullTitle publicationDate plannedPublicationDate ",
            "onixPublishingStatusCode onix21ProductFormCode inHouseFormat ",
            "forSaleCountryCodes notForSaleCountryCodes isForSaleWorldwide ",
            "webLinks { id link role note } ",
            "supportingResources { ",
            resource_fields!(),
            " }"
        )
    };
}

macro_rules! work_fields {
    () => {
        concat!(
            "id title subtitle imprint { id name } projectStage contributorPrettyList ",
            "products { ",
            product_fields!(),
            " }"
        )
    };
}

pub const WORK: &str =
    concat!("query Work($id: Int!) { work(workSearch: {idEq: $id}) { ", work_fields!(), " } }");

pub const WORKS_CHANGED_SINCE: &str = concat!(
    "query WorksChangedSince($since: ISO8601Date!, $after: Int) { ",
    "works(workSearch: {changedSince: $since, after: $after}) { ",
    work_fields!(),
    " } }"
);

pub const PRODUCT_BY_ISBN: &str = concat!(
    "query ProductByIsbn($isbn: String!) { product(productSearch: {isbn13Eq: $isbn}) { ",
    product_fields!(),
    " work { id } } }"
);

pub const PRODUCTS_CHANGED_SINCE: &str = concat!(
    "query ProductsChangedSince($since: ISO8601Date!, $after: Int) { ",
    "products(productSearch: {changedSince: $since, after: $after}) { ",
    product_fields!(),
    " work { id } } }"
);

pub const PRODUCTS_OF_WORK: &str = concat!(
    "query ProductsOfWork($id: Int!) { work(workSearch: {idEq: $id}) { id products { ",
    product_fields!(),
    " } } }"
);

macro_rules! contract_fields {
    () => {
        "id licensedRights { id rightType } deliveryDates { dateDue deliverableType slippedDate } msDeliveryDate revisedMsDeliveryDate actualMsDeliveryDate"
    };
}

pub const CONTRACT: &str = concat!(
    "query Contract($id: Int!) { contract(contractSearch: {idEq: $id}) { ",
    contract_fields!(),
    " } }"
);

/// UNCONFIRMED: `Work.contract` (WorkSearchAttributes has `contractIdEq`, so works link to one).
pub const CONTRACT_OF_WORK: &str = concat!(
    "query ContractOfWork($id: Int!) { work(workSearch: {idEq: $id}) { id contract { ",
    contract_fields!(),
    " } } }"
);

/// A work's schedule in one call: stage, contract dates and production runs (launch readiness).
pub const WORK_SCHEDULE: &str = concat!(
    "query WorkSchedule($id: Int!) { work(workSearch: {idEq: $id}) { id projectStage contract { ",
    contract_fields!(),
    " } productionRuns { id deliveryDate productIds } } }"
);

pub const PRODUCTION_RUNS_OF_WORK: &str = "query ProductionRunsOfWork($id: Int!) { \
    work(workSearch: {idEq: $id}) { id productionRuns { id deliveryDate productIds } } }";

pub const SUPPORTING_RESOURCES_OF_WORK: &str = concat!(
    "query SupportingResourcesOfWork($id: Int!) { work(workSearch: {idEq: $id}) { id supportingResources { ",
    resource_fields!(),
    " } } }"
);

/// Payload field `supportingResource` follows graphql-ruby's convention (UNCONFIRMED).
pub const CREATE_SUPPORTING_RESOURCE: &str = concat!(
    "mutation CreateSupportingResource($input: CreateSupportingResourceInput!) { ",
    "createSupportingResource(input: $input) { clientMutationId supportingResource { ",
    resource_fields!(),
    " } } }"
);

/// As [`CREATE_SUPPORTING_RESOURCE`], also asking for the presigned upload URL, used only with
/// `resourceFileName`. The payload field name `presignedUrl` is UNCONFIRMED.
pub const CREATE_SUPPORTING_RESOURCE_FOR_UPLOAD: &str = concat!(
    "mutation CreateSupportingResource($input: CreateSupportingResourceInput!) { ",
    "createSupportingResource(input: $input) { clientMutationId presignedUrl supportingResource { ",
    resource_fields!(),
    " } } }"
);

/// `DeleteSupportingResourceInput{id}` and its payload's `clientMutationId` (UNCONFIRMED names).
pub const DELETE_SUPPORTING_RESOURCE: &str = "mutation DeleteSupportingResource($id: Int!) { \
    deleteSupportingResource(input: {id: $id}) { clientMutationId } }";

/// UNCONFIRMED input: `CreateWebLinkInput{productId link role note}`; role is ONIXWebsiteRoleCode.
pub const CREATE_WEB_LINK: &str = "mutation CreateWebLink($productId: Int!, $link: URL!, \
    $role: ONIXWebsiteRoleCode!, $note: String) { createWebLink(input: {productId: $productId, \
    link: $link, role: $role, note: $note}) { clientMutationId webLink { id link role note } } }";

pub const DELETE_WEB_LINK: &str = "mutation DeleteWebLink($id: Int!) { \
    deleteWebLink(input: {id: $id}) { clientMutationId } }";
