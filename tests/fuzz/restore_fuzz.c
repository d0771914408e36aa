/* restore_fuzz.c: libFuzzer harness for RESTORE's payload decoding
 * (storage/rdb_value.c, as storage/t_dump.c's restore_proc drives it).
 *
 * The input is a DUMP payload: <value><RDB version, 2 bytes LE><CRC-64, 8
 * bytes LE>. RESTORE refuses a payload whose checksum is wrong, so random
 * bytes would almost never reach the decoder; the harness therefore
 * replaces the input's 8 CRC bytes by the right checksum (t_dump.c keeps its
 * check private) and uses the 8 bytes it replaced as control bits instead.
 * A version above RDB_VERSION or a payload under 10 bytes is refused, as
 * RESTORE refuses it. Otherwise the value is decoded as restore_proc does:
 * rdb_value_read over the bytes before the footer, version max(1, v).
 *
 * Checks: a decoded value never claims more bytes than it was given; it
 * serializes again (rdb_value_write) into a value our decoder reads back
 * whole, to the same type; with the allocator failing part-way the decoder
 * fails or succeeds cleanly. Every object is freed (obj_free); ASan, UBSan
 * and LeakSanitizer catch the rest.
 *
 * Control bits (the replaced CRC bytes): byte 0 bit 0 tiny encoding limits,
 * bit 1 LZF compression when re-serializing, bit 2 the out-of-memory run;
 * byte 1 the allocations allowed before the injected failure.
 *
 * Seeds (tests/fuzz/corpus_restore/): DUMP payloads from redis-server
 * 7.0.15 (every type in both encodings), and legacy_*.dump, built by hand
 * with Redis 2.x-6.x encodings and accepted by redis-server 7.0.15's RESTORE.
 *
 * Threads: libFuzzer's one thread. Bounds: one payload at a time, buffers
 * at most the size the decoded value serializes to. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/object.h"
#include "io/buf.h"
#include "storage/crc64.h"
#include "storage/rdb_value.h"

#define FOOTER_LEN 10 /* version (2) + CRC-64 (8) */

static void fuzz_fail(const char *what)
{
    fprintf(stderr, "restore_fuzz: %s\n", what);
    abort();
}

/* The payload with its checksum made right; NULL when it cannot be. */
static unsigned char *payload_with_crc(const uint8_t *data, size_t size)
{
    unsigned char *p = malloc(size);
    if (!p) fuzz_fail("out of memory copying the input");
    memcpy(p, data, size);
    uint64_t crc = rk_crc64(0, p, size - 8);
    for (int i = 0; i < 8; i++)
        p[size - 8 + i] = (unsigned char)(crc >> (8 * i));
    return p;
}

/* Serializes o and decodes the result again: must give back the whole
 * value, same type. */
static void check_round_trip(const rk_obj *o, const rdb_limits *lim, int compress)
{
    rk_buf out;
    rk_buf_init(&out);
    if (rdb_value_write(&out, o, compress) != 0) fuzz_fail("serializing a decoded value failed");
    char why[128];
    size_t used = 0;
    rk_obj *again = rdb_value_read((const unsigned char *)out.data, out.len, &used, RDB_VERSION, lim, why, sizeof why);
    if (!again) {
        fprintf(stderr, "restore_fuzz: re-decoding failed: %s\n", why);
        abort();
    }
    if (used != out.len) fuzz_fail("re-decoding left bytes of our own serialization");
    if (again->type != o->type) fuzz_fail("re-decoding changed the type");
    obj_free(again);
    rk_buf_free(&out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (rk_alloc_thread_init() != 0) fuzz_fail("rk_alloc_thread_init failed");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FOOTER_LEN) return 0; /* RESTORE: version or checksum wrong */
    const uint8_t *ctrl = data + size - 8;
    int version = data[size - FOOTER_LEN] | (data[size - FOOTER_LEN + 1] << 8);
    if (version > RDB_VERSION) return 0; /* RESTORE refuses newer payloads */

    rdb_limits lim;
    rdb_limits_from_config(&lim, NULL);
    if (ctrl[0] & 1)
        lim = (rdb_limits){.list_fill = 2, .hash_entries = 2, .hash_value = 4,
                           .set_intset_entries = 2, .zset_entries = 2, .zset_value = 4};
    int compress = (ctrl[0] >> 1) & 1;
    int oom_run = (ctrl[0] >> 2) & 1;
    int64_t oom_after = ctrl[1];

    unsigned char *payload = payload_with_crc(data, size);
    size_t vlen = size - FOOTER_LEN;
    int rdbver = version < 1 ? 1 : version;
    char why[128];
    size_t used = 0;
    rk_obj *o = rdb_value_read(payload, vlen, &used, rdbver, &lim, why, sizeof why);
    if (o) {
        if (used > vlen) fuzz_fail("decoder consumed more bytes than it was given");
        check_round_trip(o, &lim, compress);
        obj_free(o);
    } else if (why[0] == '\0') {
        fuzz_fail("decoder failed without a reason");
    }

    if (oom_run) {
        rk_alloc_fail_after(oom_after);
        rk_obj *partial = rdb_value_read(payload, vlen, &used, rdbver, &lim, why, sizeof why);
        rk_alloc_fail_after(-1);
        if (partial) obj_free(partial);
    }
    free(payload);
    return 0;
}
