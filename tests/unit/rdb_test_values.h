// rdb_test_values.h: builds values of every type and encoding for the RDB
// unit tests, and describes them canonically so two values compare equal
// exactly when they hold the same data. Included inside each test's
// anonymous namespace, after the C headers and S().
#ifndef RK_TEST_RDB_VALUES_H
#define RK_TEST_RDB_VALUES_H

// ---- building values -------------------------------------------------------

// o as rdb_value_write encodes it (type byte + value).
[[maybe_unused]] std::string write_value(const rk_obj *o, int compress)
{
    rk_buf b;
    rk_buf_init(&b);
    EXPECT_EQ(rdb_value_write(&b, o, compress), 0);
    std::string s(b.data ? b.data : "", b.len);
    rk_buf_free(&b);
    return s;
}


rk_obj *make_list(const std::vector<std::string> &items, int fill)
{
    rk_obj *o = list_obj_create(fill);
    for (const auto &s : items)
        EXPECT_EQ(ql_push(static_cast<quicklist *>(o->u.ptr), s.data(), s.size(), QL_TAIL), 0);
    return o;
}

rk_obj *make_hash(int n, size_t vlen = 2)
{
    rk_obj *o = hash_new();
    hash_limits lim = {128, 64};
    for (int i = 0; i < n; i++) {
        std::string f = "f" + std::to_string(i), v = std::string(vlen, 'v') + std::to_string(i);
        EXPECT_EQ(hash_set(o, S(f), S(v), &lim), 1);
    }
    return o;
}

rk_obj *make_set(const std::vector<std::string> &members)
{
    rk_obj *o = set_create_empty(1);
    for (const auto &m : members)
        EXPECT_EQ(set_add_member(o, m.data(), m.size(), 512), 1);
    return o;
}

rk_obj *make_zset(int n, bool skiplist)
{
    rk_obj *o = zset_create(ENC_SKIPLIST);
    for (int i = 0; i < n; i++) {
        std::string m = "m" + std::to_string(i);
        EXPECT_EQ(zset_add_new(o, m.data(), m.size(), i * 0.5 - 3), 1);
    }
    if (!skiplist) {
        EXPECT_EQ(zset_convert(o, ENC_LISTPACK), 0);
    }
    return o;
}

// ---- describing values -----------------------------------------------------

void collect_member(void *ud, const char *p, size_t len)
{
    static_cast<std::vector<std::string> *>(ud)->emplace_back(p, len);
}

// A canonical text of the value: type, then its contents in a stable order.
std::string describe(rk_obj *o)
{
    std::string out = std::to_string(o->type) + ":";
    std::vector<std::string> parts;
    switch (o->type) {
    case OBJ_STRING: {
        char tmp[24];
        rk_slice s = obj_string_bytes(o, tmp);
        return out + std::string(s.ptr, s.len);
    }
    case OBJ_LIST: {
        ql_iter it;
        ql_entry e;
        ql_iter_init(&it, static_cast<quicklist *>(o->u.ptr), QL_FORWARD);
        while (ql_iter_next(&it, &e)) {
            unsigned char buf[32];
            size_t len;
            const unsigned char *p = ql_entry_bytes(&e, buf, &len);
            out += std::string(reinterpret_cast<const char *>(p), len) + ",";
        }
        return out;
    }
    case OBJ_HASH: {
        hash_iter it;
        rk_slice f, v;
        hash_iter_init(&it, o);
        while (hash_iter_next(&it, &f, &v))
            parts.push_back(std::string(f.ptr, f.len) + "=" + std::string(v.ptr, v.len));
        hash_iter_release(&it);
        break;
    }
    case OBJ_SET:
        set_for_each_member(o, collect_member, &parts);
        break;
    case OBJ_ZSET: {
        // Re-serialize through a skiplist copy to read (member, score) pairs.
        rk_obj *copy = obj_dup(o);
        EXPECT_EQ(zset_convert(copy, ENC_SKIPLIST), 0);
        const zset_sl *zs = static_cast<const zset_sl *>(copy->u.ptr);
        for (const zsl_node *n = zs->zsl->header->level[0].forward; n; n = n->level[0].forward) {
            char score[64];
            snprintf(score, sizeof score, "%.17g", n->score);
            out += std::string(n->ele->data, n->ele->len) + "=" + score + ",";
        }
        obj_free(copy);
        return out;
    }
    }
    std::sort(parts.begin(), parts.end());
    for (const auto &p : parts)
        out += p + ",";
    return out;
}

#endif
