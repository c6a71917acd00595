//! The store conformance suite (`connector_store::conformance`) run against every adapter:
//! SQLite + directory (embedded) and DynamoDB + SQS + S3 on moto (aws). The same case names
//! appear under `embedded::` and `aws::` in the test output.

/// Dead-lettering is checked after this many receives (small, so the case is quick).
const MAX_RECEIVES: u32 = 3;

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (ctx, _dir) = connector_tests::embedded::context(stringify!($case), super::MAX_RECEIVES);
                    connector_store::conformance::$case(&ctx).await;
                }
            )*
        }

        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    // Fresh tables, queues and bucket from infra/template.yaml, on moto.
                    let ctx = connector_tests::aws::context(stringify!($case), super::MAX_RECEIVES).await;
                    connector_store::conformance::$case(&ctx).await;
                }
            )*
        }

        #[test]
        fn every_case_runs() {
            let listed: Vec<&str> = vec![$(stringify!($case)),*];
            assert_eq!(listed, connector_store::conformance::CASES, "add new cases to tests/tests/conformance.rs");
        }
    };
}

cases!(
    title_create_only_once,
    title_update_needs_current_revision,
    concurrent_writers_one_wins,
    link_versions_are_monotonic,
    link_from_other_asset_needs_later_approval,
    link_write_and_audit_are_atomic,
    links_by_title_and_by_asset,
    titles_page_through_all,
    audit_newest_first_with_paging,
    audit_order_within_one_millisecond,
    idempotency_concurrent_claims_one_wins,
    idempotency_completed_returns_data,
    idempotency_payload_mismatch,
    idempotency_expiry_and_release,
    checkpoint_revisions,
    documents_revisions_audit_and_paging,
    queue_send_receive_ack,
    queue_redelivery_after_visibility_timeout,
    queue_dead_letter_after_max_receives_and_redrive,
    queue_retry_later_and_selective_redrive,
    queue_dead_letter_now,
    staging_put_get_checksums_and_list,
    staging_stream_multipart,
    staging_source_failures_are_transient,
);
