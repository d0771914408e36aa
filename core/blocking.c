/* blocking.c: clients blocked on keys (being written). */
#include "core/command.h"

void ctx_block(rk_ctx *c, double timeout_seconds) {
    c->block_requested = 1;
    c->block_timeout = timeout_seconds;
}
