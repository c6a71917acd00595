//! The GraphQL documents the client sends, built for the tenant's schema: optional fields are
//! selected only where the tenant has them, payload and input names are read from it.
//!
//! Names come from the schema pages at graphql-schema.consonance.app and the
//! GeneralProducts/consonance-graphql examples (docs/ASSUMPTIONS.md has the table). Without an
//! introspected schema (a tenant that refuses introspection) the documents use the connector's
//! baseline: the confirmed names, and the conventional graphql-ruby spelling for the rest.

use crate::tenant::TenantSchema;

/// What the client found out about the tenant, and how it adapted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `WebLink.note` exists (one official example selects it; the schema page shows none).
    pub web_link_note: bool,
    /// `CreateWebLinkInput.note` exists.
    pub web_link_note_input: bool,
    /// `Work.contract` exists (no public source shows it; `Contract.work` is the published link).
    pub work_contract: bool,
    /// `deleteSupportingResource`/`deleteWebLink` payloads have `success: Boolean`.
    pub delete_success_field: bool,
    /// Input type names of the mutations (`createSupportingResource(input:)` ...).
    pub create_resource_input: String,
    pub delete_resource_input: String,
    pub create_web_link_input: String,
    pub delete_web_link_input: String,
    /// The payload fields holding the created records (`supportingResource`, `webLink`).
    pub created_resource_field: String,
    pub created_web_link_field: String,
    /// Whether the documents were built from an introspected schema.
    pub introspected: bool,
    /// Adaptations made, for logs and `connector check` ("WebLink.note absent: not selected").
    pub notes: Vec<String>,
}

/// Every document, by operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documents {
    pub work: String,
    pub works_changed_since: String,
    pub product_by_isbn: String,
    /// The work of the product with an ISBN, whole, through `Product.work` (a `Work`): the
    /// title lookup in one query instead of the product, then its work by id. With the work's
    /// schedule and its own supporting resources (a create's check for an earlier attempt).
    pub work_by_isbn: String,
    pub products_changed_since: String,
    pub products_of_work: String,
    pub contract: String,
    /// `None` when the tenant has no path from a work to its contract.
    pub contract_of_work: Option<String>,
    pub work_schedule: String,
    pub production_runs_of_work: String,
    pub supporting_resources_of_work: String,
    /// What [`Documents::resources_of_works`] selects of each work: its supporting resources
    /// and its products' web links.
    pub work_resources: String,
    /// [`Documents::resources_of_works`] for two works, for `connector check` to validate.
    pub resources_of_works_sample: String,
    pub create_supporting_resource: String,
    pub create_supporting_resource_for_upload: String,
    pub delete_supporting_resource: String,
    pub create_web_link: String,
    pub delete_web_link: String,
    pub caps: Capabilities,
}

/// The fields the client reads of each type, in selection order. Those the tenant lacks are
/// left out (only `id` is required everywhere).
const RESOURCE_FIELDS: &[&str] = &[
    "id",
    "imageRemoteUrl",
    "url",
    "isProcessing",
    "filename",
    "imageContentType",
    "productIds",
    "caption",
    "createdAt",
    "resourceVariant",
    "status",
];
/// Confirmed on the `supportingresource` schema page (`status` is not: the page is cut short).
const RESOURCE_BASELINE: &[&str] = &[
    "id",
    "imageRemoteUrl",
    "isProcessing",
    "filename",
    "imageContentType",
    "productIds",
    "caption",
    "createdAt",
    "resourceVariant",
];
const PRODUCT_LEAVES: &[&str] = &[
    "__typename",
    "id",
    "fullTitle",
    "publicationDate",
    "plannedPublicationDate",
    "onixPublishingStatusCode",
    "onix21ProductFormCode",
    "forSaleCountryCodes",
    "notForSaleCountryCodes",
    "isForSaleWorldwide",
];
const CONTRACT_LEAVES: &[&str] = &["id", "msDeliveryDate", "revisedMsDeliveryDate", "actualMsDeliveryDate"];
/// Subfields of a payload's `errors` the client can read (the examples show `field message`,
/// `attribute message` and `field messages`).
const ERROR_FIELDS: &[&str] = &["field", "attribute", "path", "message", "messages"];

struct Builder<'a> {
    schema: Option<&'a TenantSchema>,
    notes: Vec<String>,
}

impl Builder<'_> {
    /// The fields of `ty` among `wanted` (all of `baseline` without a schema).
    fn pick(&mut self, ty: &str, wanted: &[&str], baseline: &[&str]) -> String {
        match self.schema {
            None => baseline.join(" "),
            Some(s) => {
                let keep = s.existing(ty, wanted);
                for w in wanted.iter().filter(|w| !keep.contains(w) && !w.starts_with("__")) {
                    self.notes.push(format!("{ty}.{w} absent: not selected"));
                }
                let mut keep = keep;
                if wanted.contains(&"__typename") && !keep.contains(&"__typename") {
                    keep.insert(0, "__typename");
                }
                keep.join(" ")
            }
        }
    }

    fn has(&self, ty: &str, field: &str, baseline: bool) -> bool {
        self.schema.map_or(baseline, |s| s.has_field(ty, field))
    }

    /// `inHouseFormat`: an object `{name code}` in the examples; a leaf on older tenants.
    fn in_house_format(&mut self) -> String {
        match self
            .schema
            .and_then(|s| s.field("Product", "inHouseFormat").map(|f| (s, f.ty.named().to_string())))
        {
            None if self.schema.is_some() => {
                self.notes.push("Product.inHouseFormat absent: not selected".into());
                String::new()
            }
            Some((s, ty)) if s.is_leaf(&ty) => "inHouseFormat".into(),
            Some((_, ty)) => {
                format!("inHouseFormat {{ {} }}", self.pick(&ty, &["name", "code"], &["name", "code"]))
            }
            None => "inHouseFormat { name code }".into(),
        }
    }

    fn web_link(&mut self) -> String {
        let note = self.has("WebLink", "note", false);
        if !note {
            self.notes.push("WebLink.note absent: not selected".into());
        }
        if note { "id link role note".into() } else { "id link role".into() }
    }

    fn resource(&mut self) -> String {
        self.pick("SupportingResource", RESOURCE_FIELDS, RESOURCE_BASELINE)
    }

    fn product(&mut self) -> String {
        let leaves = self.pick("Product", PRODUCT_LEAVES, PRODUCT_LEAVES);
        let ihf = self.in_house_format();
        let links = self.web_link();
        let res = self.resource();
        format!("{leaves} isbn {{ isbn13 }} {ihf} webLinks {{ {links} }} supportingResources {{ {res} }}")
    }

    fn contract(&mut self) -> String {
        let leaves = self.pick("Contract", CONTRACT_LEAVES, CONTRACT_LEAVES);
        format!(
            "{leaves} licensedRights {{ id rightType }} deliveryDates {{ dateDue deliverableType slippedDate }}"
        )
    }

    /// The `errors { ... }` selection of a payload, empty when it has none.
    fn errors(&mut self, mutation: &str) -> String {
        let Some(s) = self.schema else { return "errors { field message }".into() };
        let Some(payload) = s.mutation_payload(mutation) else { return String::new() };
        let Some(f) = s.field(payload, "errors") else {
            self.notes
                .push(format!("{payload}.errors absent: mutation errors read from GraphQL errors only"));
            return String::new();
        };
        let ty = f.ty.named().to_string();
        if s.is_leaf(&ty) {
            return "errors".into();
        }
        let sub = s.existing(&ty, ERROR_FIELDS);
        if sub.is_empty() { String::new() } else { format!("errors {{ {} }}", sub.join(" ")) }
    }

    /// The field of a payload holding a record of `record_type` (e.g. `supportingResource`).
    fn result_field(&mut self, mutation: &str, record_type: &str, conventional: &str) -> String {
        let Some(s) = self.schema else { return conventional.into() };
        let Some(payload) = s.mutation_payload(mutation) else { return conventional.into() };
        let fields = s.type_info(payload).and_then(|t| t.fields.clone()).unwrap_or_default();
        match fields.iter().find(|f| f.ty.named() == record_type) {
            Some(f) if f.name != conventional => {
                self.notes.push(format!("{payload}: the {record_type} is in {:?}", f.name));
                f.name.clone()
            }
            _ => conventional.into(),
        }
    }

    fn input_type(&self, mutation: &str, conventional: &str) -> String {
        self.schema
            .and_then(|s| s.mutation_type.as_deref().and_then(|m| s.arg_type(m, mutation, "input")))
            .map(|t| t.named().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| conventional.into())
    }
}

impl Documents {
    /// The documents for `schema` (`None`: the baseline, for a tenant that refuses introspection).
    pub fn build(schema: Option<&TenantSchema>) -> Documents {
        let mut b = Builder { schema, notes: Vec::new() };
        let product = b.product();
        let resource = b.resource();
        let contract = b.contract();
        let links = if b.has("WebLink", "note", false) { "id link role note" } else { "id link role" };
        let work_resources =
            format!("id supportingResources {{ {resource} }} products {{ id webLinks {{ {links} }} }}");
        let work = format!(
            "id title subtitle imprint {{ id name }} projectStage contributorPrettyList products {{ {product} }}"
        );
        let work_contract = b.has("Work", "contract", false);
        if !work_contract {
            b.notes
                .push("Work.contract absent: no contract dates (Contract.work is the published link)".into());
        }
        let contract_of_work = work_contract.then(|| {
            format!(
                "query ContractOfWork($id: Int!) {{ work(workSearch: {{idEq: $id}}) {{ id contract {{ {contract} }} }} }}"
            )
        });
        let schedule_contract =
            if work_contract { format!(" contract {{ {contract} }}") } else { String::new() };

        let cri = b.input_type("createSupportingResource", "CreateSupportingResourceInput");
        let dri = b.input_type("deleteSupportingResource", "DeleteSupportingResourceInput");
        let cwi = b.input_type("createWebLink", "CreateWebLinkInput");
        let dwi = b.input_type("deleteWebLink", "DeleteWebLinkInput");
        let created = b.result_field("createSupportingResource", "SupportingResource", "supportingResource");
        let presigned =
            match schema.and_then(|s| s.mutation_payload("createSupportingResource").map(|p| (s, p))) {
                Some((s, p)) => s.has_field(p, "presignedUrl").then_some("presignedUrl"),
                None => Some("presignedUrl"),
            };
        if presigned.is_none() && schema.is_some() {
            b.notes.push(
                "CreateSupportingResourcePayload.presignedUrl absent: presigned uploads unavailable".into(),
            );
        }
        let cr_errors = b.errors("createSupportingResource");
        let dr_errors = b.errors("deleteSupportingResource");
        let cw_errors = b.errors("createWebLink");
        let dw_errors = b.errors("deleteWebLink");
        let link_field = b.result_field("createWebLink", "WebLink", "webLink");
        let web_link = b.web_link();
        let success = |m: &str| {
            schema.is_some_and(|s| s.mutation_payload(m).is_some_and(|p| s.has_field(p, "success")))
        };
        let delete_success_field = success("deleteSupportingResource") && success("deleteWebLink");
        let success_sel = if delete_success_field { " success" } else { "" };
        let note_input = schema.is_some_and(|s| s.input_field(&cwi, "note").is_some());
        b.notes.sort();
        b.notes.dedup();
        let caps = Capabilities {
            web_link_note: b.has("WebLink", "note", false),
            web_link_note_input: note_input,
            work_contract,
            delete_success_field,
            create_resource_input: cri.clone(),
            delete_resource_input: dri.clone(),
            create_web_link_input: cwi.clone(),
            delete_web_link_input: dwi.clone(),
            created_resource_field: created.clone(),
            created_web_link_field: link_field.clone(),
            introspected: schema.is_some(),
            notes: std::mem::take(&mut b.notes),
        };
        let create = |extra: &str| {
            format!(
                "mutation CreateSupportingResource($input: {cri}!) {{ createSupportingResource(input: $input) \
                 {{ clientMutationId{extra} {created} {{ {resource} }} {cr_errors} }} }}"
            )
        };
        Documents {
            work: format!("query Work($id: Int!) {{ work(workSearch: {{idEq: $id}}) {{ {work} }} }}"),
            works_changed_since: format!(
                "query WorksChangedSince($since: ISO8601Date!, $after: Int) {{ \
                 works(workSearch: {{changedSince: $since, after: $after}}) {{ {work} }} }}"
            ),
            product_by_isbn: format!(
                "query ProductByIsbn($isbn: String!) {{ product(productSearch: {{isbn13Eq: $isbn}}) \
                 {{ {product} work {{ id }} }} }}"
            ),
            work_by_isbn: format!(
                "query WorkByIsbn($isbn: String!) {{ product(productSearch: {{isbn13Eq: $isbn}}) \
                 {{ id work {{ {work}{schedule_contract} productionRuns {{ id deliveryDate productIds }} \
                 supportingResources {{ {resource} }} }} }} }}"
            ),
            products_changed_since: format!(
                "query ProductsChangedSince($since: ISO8601Date!, $after: Int) {{ \
                 products(productSearch: {{changedSince: $since, after: $after}}) {{ {product} work {{ id }} }} }}"
            ),
            products_of_work: format!(
                "query ProductsOfWork($id: Int!) {{ work(workSearch: {{idEq: $id}}) {{ id products {{ {product} }} }} }}"
            ),
            contract: format!(
                "query Contract($id: Int!) {{ contract(contractSearch: {{idEq: $id}}) {{ {contract} }} }}"
            ),
            contract_of_work,
            work_schedule: format!(
                "query WorkSchedule($id: Int!) {{ work(workSearch: {{idEq: $id}}) {{ id projectStage{schedule_contract} \
                 productionRuns {{ id deliveryDate productIds }} }} }}"
            ),
            production_runs_of_work: "query ProductionRunsOfWork($id: Int!) { work(workSearch: {idEq: $id}) \
                 { id productionRuns { id deliveryDate productIds } } }"
                .into(),
            supporting_resources_of_work: format!(
                "query SupportingResourcesOfWork($id: Int!) {{ work(workSearch: {{idEq: $id}}) \
                 {{ id supportingResources {{ {resource} }} }} }}"
            ),
            work_resources: work_resources.clone(),
            resources_of_works_sample: resources_of_works(&work_resources, 2),
            create_supporting_resource: create(""),
            create_supporting_resource_for_upload: match presigned {
                Some(p) => create(&format!(" {p}")),
                None => create(""),
            },
            delete_supporting_resource: format!(
                "mutation DeleteSupportingResource($input: {dri}!) {{ deleteSupportingResource(input: $input) \
                 {{ clientMutationId{success_sel} {dr_errors} }} }}"
            ),
            create_web_link: format!(
                "mutation CreateWebLink($input: {cwi}!) {{ createWebLink(input: $input) \
                 {{ clientMutationId {link_field} {{ {web_link} }} {cw_errors} }} }}"
            ),
            delete_web_link: format!(
                "mutation DeleteWebLink($input: {dwi}!) {{ deleteWebLink(input: $input) \
                 {{ clientMutationId{success_sel} {dw_errors} }} }}"
            ),
            caps,
        }
    }

    /// The supporting resources and products' web links of `n` works in one query: one aliased
    /// `work(workSearch: {idEq})` lookup per work (`w0`, `w1`, ..., variables `$w0`, ...).
    /// Aliases are GraphQL's own (the spec's field aliases), so any server takes them; how
    /// many a tenant allows per query (complexity limits) is not published: the caller's
    /// `lookups_per_query` setting.
    pub fn resources_of_works(&self, n: usize) -> String {
        resources_of_works(&self.work_resources, n)
    }

    /// Every document with its operation name, for `connector check` to validate.
    pub fn all(&self) -> Vec<(&'static str, &str)> {
        let mut v = vec![
            ("work", self.work.as_str()),
            ("works_changed_since", &self.works_changed_since),
            ("product_by_isbn", &self.product_by_isbn),
            ("work_by_isbn", &self.work_by_isbn),
            ("products_changed_since", &self.products_changed_since),
            ("products_of_work", &self.products_of_work),
            ("contract", &self.contract),
            ("work_schedule", &self.work_schedule),
            ("production_runs_of_work", &self.production_runs_of_work),
            ("supporting_resources_of_work", &self.supporting_resources_of_work),
            ("resources_of_works", &self.resources_of_works_sample),
            ("create_supporting_resource", &self.create_supporting_resource),
            ("create_supporting_resource_for_upload", &self.create_supporting_resource_for_upload),
            ("delete_supporting_resource", &self.delete_supporting_resource),
            ("create_web_link", &self.create_web_link),
            ("delete_web_link", &self.delete_web_link),
        ];
        if let Some(d) = &self.contract_of_work {
            v.push(("contract_of_work", d));
        }
        v
    }
}

fn resources_of_works(selection: &str, n: usize) -> String {
    let vars: Vec<String> = (0..n).map(|i| format!("$w{i}: Int!")).collect();
    let lookups: Vec<String> =
        (0..n).map(|i| format!("w{i}: work(workSearch: {{idEq: $w{i}}}) {{ {selection} }}")).collect();
    format!("query ResourcesOfWorks({}) {{ {} }}", vars.join(", "), lookups.join(" "))
}
