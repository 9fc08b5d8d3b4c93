/*
 * Every Kafka topic, record header and event-id format of shopstream, in one place; no topic
 * literal stands anywhere else. Topic partition counts and retention are in schemas/topics.tsv;
 * the Avro schema of each record is schemas/<SchemaName>.avsc.
 */
#ifndef SS_TOPICS_H
#define SS_TOPICS_H

#include <inttypes.h> /* the event-id formats use PRId64 */

/* Commands keyed by user id: ChargeBalance, PlaceOrder, and the stock replies. */
#define SS_TOPIC_CMD_USER "ss.cmd.user"
/* Commands keyed by product id: ReserveStock, ReleaseStock, AdjustProduct. */
#define SS_TOPIC_CMD_STOCK "ss.cmd.stock"
/* Commands keyed by coupon id: IssueCoupon, ChangeCouponStatus. */
#define SS_TOPIC_CMD_COUPON "ss.cmd.coupon"
/*
 * The field of every record on a command topic that its key must equal: the entity whose one
 * owner applies it. A record whose key says otherwise was routed to the wrong owner.
 */
#define SS_TOPIC_CMD_USER_KEY_FIELD "user_id"
#define SS_TOPIC_CMD_STOCK_KEY_FIELD "product_id"
#define SS_TOPIC_CMD_COUPON_KEY_FIELD "coupon_id"
/*
 * CommandResults, on the partition of the ingress instance that asked: one record per worker
 * batch, source partition and ingress partition, of at most about SS_RESULTS_RECORD_BYTES_MAX
 * (CommandResult, one record per command, is what workers before stop 20 wrote; the ingress
 * reads both).
 */
#define SS_TOPIC_RESULTS "ss.results"
#define SS_RESULTS_RECORD_BYTES_MAX (256 * 1024)
/* OrderPaid and OrderFailed keyed by the buyer's user id. */
#define SS_TOPIC_EVENTS_ORDER "ss.events.order"
/* Records that could not be processed or produced. */
#define SS_TOPIC_DLQ "ss.dlq"

/*
 * Request correlation (ss/trace.h) on every command, reply and event a request causes: the
 * X-Request-Id the client sees, and its W3C traceparent (our hop's span as the parent).
 */
#define SS_HEADER_REQUEST_ID "ss-request-id"
#define SS_HEADER_TRACEPARENT "traceparent"

/* Dead-letter headers: why, where the record came from, and what was not copied. */
#define SS_HEADER_DLQ_REASON "ss-dlq-reason"
#define SS_HEADER_DLQ_SOURCE "ss-dlq-source" /* "<topic>/<partition>/<offset>" */
/* Set on a reference: the record itself was too large to copy, this many bytes. */
#define SS_HEADER_DLQ_PARKED_BYTES "ss-dlq-parked-bytes"
/* Set on a reference to an outbox row that could not be produced: "<source>#<row id>". */
#define SS_HEADER_DLQ_OUTBOX_ROW "ss-dlq-outbox-row"
/* Set on a reference to an outbox row: the topic it was meant for. */
#define SS_HEADER_DLQ_DESTINATION "ss-dlq-destination"

/*
 * The answer a dead-lettered command gets in request_results (and its CommandResult): the
 * command was not applied. ss-admin's dlq replay recognises it (a request with any other stored
 * answer was applied and is never replayed).
 */
#define SS_DLQ_ANSWER_STATUS 500
#define SS_DLQ_ANSWER_BODY                                                                         \
    "{\"code\":500,\"message\":\"the request could not be processed and was set aside\","          \
    "\"error\":\"INTERNAL\"}"

/* Record schemas (schemas/<snake_case>.avsc) by the short name ss/avro.h looks them up by. */
#define SS_SCHEMA_CHARGE_BALANCE "ChargeBalance"
#define SS_SCHEMA_PLACE_ORDER "PlaceOrder"
#define SS_SCHEMA_RESERVE_STOCK "ReserveStock"
#define SS_SCHEMA_RELEASE_STOCK "ReleaseStock"
#define SS_SCHEMA_STOCK_RESERVED "StockReserved"
#define SS_SCHEMA_STOCK_REJECTED "StockRejected"
#define SS_SCHEMA_ADJUST_PRODUCT "AdjustProduct"
#define SS_SCHEMA_ISSUE_COUPON "IssueCoupon"
#define SS_SCHEMA_CHANGE_COUPON_STATUS "ChangeCouponStatus"
#define SS_SCHEMA_COMMAND_RESULT "CommandResult"
#define SS_SCHEMA_COMMAND_RESULTS "CommandResults"
#define SS_SCHEMA_ORDER_PAID "OrderPaid"
#define SS_SCHEMA_ORDER_FAILED "OrderFailed"

/* Event ids (consumers dedupe by them); printf formats with their arguments named. */
/* The saga's stock commands: order id, "reserve" or "release", product id (int64 each). */
#define SS_EVENT_ID_STOCK_COMMAND "order-%" PRId64 "-%s-%" PRId64
/* The stock worker's replies: order id, "reserved" or "rejected", product id. */
#define SS_EVENT_ID_STOCK_REPLY "order-%" PRId64 "-%s-%" PRId64
#define SS_EVENT_ID_ORDER_FAILED "order-%" PRId64 "-failed" /* order id */
#define SS_EVENT_ID_ORDER_PAID "order-%" PRId64 "-paid"     /* order id */
/* A paid order line as the ranking counts it, once: order id, product id (ss/rank.h). */
#define SS_EVENT_ID_SALE "order-%" PRId64 "-sold-%" PRId64
/* The data platform's Idempotency-Key of a paid order: order id. */
#define SS_PLATFORM_KEY_ORDER "order-%" PRId64
#endif
