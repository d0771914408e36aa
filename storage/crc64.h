/* crc64.h: Redis's CRC-64 (Jones polynomial 0xad93d23594c935a9, reflected
 * input and output, initial value 0, no final xor), the checksum of DUMP
 * payloads and RDB files. crc64("123456789") == 0xe9c6d914c4b8d9ca.
 * Pure function over a read-only table: callable from any thread. */
#ifndef RK_STORAGE_CRC64_H
#define RK_STORAGE_CRC64_H
#include <stddef.h>
#include <stdint.h>

/* Continues crc over p[0, n); start with crc = 0. */
uint64_t rk_crc64(uint64_t crc, const void *p, size_t n);

#endif
