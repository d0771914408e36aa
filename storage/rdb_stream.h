/* rdb_stream.h: streams in RDB files and DUMP payloads (storage/rdb_stream.c). */
#ifndef RK_STORAGE_RDB_STREAM_H
#define RK_STORAGE_RDB_STREAM_H

#include <stddef.h>
#include "core/object.h"
#include "io/buf.h"

/* Writes the type byte (RDB_TYPE_STREAM_LISTPACKS_2) and the body. 0 / -1 OOM. */
int rdb_stream_write(rk_buf *out, const rk_obj *o, int compress);
/* Reads a body of type 15, 19 or 21; NULL with the reason in err. */
rk_obj *rdb_stream_read(int type, const unsigned char *p, size_t len, size_t *consumed, char *err, size_t errlen);

#endif
