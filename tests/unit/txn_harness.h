/* txn_harness.h: see txn_harness.c. */
#ifndef RK_TEST_TXN_HARNESS_H
#define RK_TEST_TXN_HARNESS_H
#ifdef __cplusplus
extern "C" {
#endif
typedef struct txn_harness_result {
    int finished;     /* transactions whose last step ran */
    int retries;      /* schedules refused and retried */
    int nhops[2];     /* hops run per shard */
    int order[2][8];  /* which transaction each hop belonged to, per shard */
    int paused[2];    /* shards still paused at the end */
} txn_harness_result;
int txn_harness_reject_scenario(txn_harness_result *res);
#ifdef __cplusplus
}
#endif
#endif
