// Unit tests for core/lua_struct.c and core/lua_cmsgpack.c on a bare
// lua_State: the bytes and values Redis 7.0.15's bundled copies give for the
// same scripts (captured with EVAL on Debian's redis-server), and their errors.
#include <gtest/gtest.h>

#include <string>

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "core/lua_libs.h"
}

namespace {

class LuaLibs : public ::testing::Test {
  protected:
    lua_State *L = nullptr;
    void SetUp() override
    {
        L = luaL_newstate();
        ASSERT_NE(L, nullptr);
        luaL_openlibs(L);
        lua_pushcfunction(L, luaopen_struct);
        lua_call(L, 0, 0);
        lua_pushcfunction(L, luaopen_cmsgpack);
        lua_call(L, 0, 0);
    }
    void TearDown() override { lua_close(L); }

    // Runs `code` (a chunk returning one value) and gives its string value;
    // a Lua error gives "ERR:" and the message (as Redis shows it after
    // "user_script:1: ").
    std::string run(const std::string &code)
    {
        int top = lua_gettop(L);
        std::string out;
        if (luaL_loadbuffer(L, code.data(), code.size(), "=t") || lua_pcall(L, 0, 1, 0)) {
            std::string m = lua_tostring(L, -1);
            if (m.rfind("t:1: ", 0) == 0) m = m.substr(5); // the chunk's position
            out = "ERR:" + m;
        } else if (lua_isboolean(L, -1)) {
            out = lua_toboolean(L, -1) ? "true" : "false";
        } else if (lua_isnil(L, -1)) {
            out = "nil";
        } else {
            size_t n = 0;
            const char *s = lua_tolstring(L, -1, &n);
            out = s ? std::string(s, n) : "?";
        }
        lua_settop(L, top);
        return out;
    }
};

std::string hex(const std::string &s)
{
    static const char d[] = "0123456789abcdef";
    std::string h;
    for (unsigned char c : s) {
        h += d[c >> 4];
        h += d[c & 15];
    }
    return h;
}

TEST_F(LuaLibs, CmsgpackEncodingMatchesRedis)
{
    std::string b = run("return cmsgpack.pack(1, -1, 127, 128, -33, 255, 256, 65536, 4294967296, -129, -32769, "
                        "-2147483649, 1.5, 0.1, 'abc', true, false, {1,2,3}, {a=1})");
    EXPECT_EQ(hex(b), "01ff7fcc80d0dfccffcd0100ce00010000cf0000000100000000d1ff7fd2ffff7fffd3ffffffff7fffffffca3fc00000"
                      "cb3fb999999999999aa3616263c3c2930102038"
                      "1a16101");
    // Holes make a map; a cycle is cut at 16 levels with nil.
    EXPECT_EQ(hex(run("local t={} t[1]=1 t[3]=3 return cmsgpack.pack(t)")), "8201010303");
    EXPECT_EQ(hex(run("local a={} a[1]=a return cmsgpack.pack(a)")), std::string("91919191919191919191919191919191c0"));
    // String and container widths.
    EXPECT_EQ(hex(run("return cmsgpack.pack(string.rep('x', 31))")).substr(0, 2), "bf");
    EXPECT_EQ(hex(run("return cmsgpack.pack(string.rep('x', 32))")).substr(0, 4), "d920");
    EXPECT_EQ(hex(run("return cmsgpack.pack(string.rep('x', 256))")).substr(0, 6), "da0100");
    EXPECT_EQ(hex(run("return cmsgpack.pack(string.rep('x', 65536))")).substr(0, 10), "db00010000");
    EXPECT_EQ(hex(run("local t={} for i=1,16 do t[i]=0 end return cmsgpack.pack(t)")).substr(0, 6), "dc0010");
    EXPECT_EQ(hex(run("local t={} for i=1,16 do t['k'..i]=0 end return cmsgpack.pack(t)")).substr(0, 6), "de0010");
    EXPECT_EQ(hex(run("return cmsgpack.pack(0/0)")).substr(0, 2), "cb");
    EXPECT_EQ(hex(run("return cmsgpack.pack(1/0)")), "ca7f800000");
    EXPECT_EQ(hex(run("return cmsgpack.pack(nil, print)")), "c0c0");
    EXPECT_EQ(run("return cmsgpack.pack()"), "ERR:bad argument #0 to 'pack' (MessagePack pack needs input.)");
}

TEST_F(LuaLibs, CmsgpackDecoding)
{
    EXPECT_EQ(run("return cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')"), "-1");
    EXPECT_EQ(run("return cmsgpack.unpack('\\209\\255\\127')"), "-129");
    EXPECT_EQ(run("return cmsgpack.unpack('\\210\\255\\255\\127\\255')"), "-32769");
    EXPECT_EQ(run("return cmsgpack.unpack('\\202\\63\\192\\0\\0')"), "1.5");
    EXPECT_EQ(run("local a,b,c = cmsgpack.unpack(cmsgpack.pack(1,'two',{3,{x=4}})) "
                  "return a..b..c[1]..c[2].x"),
              "1two34");
    EXPECT_EQ(run("local n,v = cmsgpack.unpack_one(cmsgpack.pack(1,2,3)) return n..','..v"), "1,1");
    EXPECT_EQ(run("local n,a,b = cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 2, 1) return n..','..a..','..b"),
              "-1,2,3");
    EXPECT_EQ(run("local n,v = cmsgpack.unpack_one(cmsgpack.pack(7), 0) return n..','..v"), "-1,7");
    EXPECT_EQ(run("return cmsgpack.unpack_one(cmsgpack.pack(1,2,3), -1)"),
              "ERR:Invalid request to unpack with offset of -1 and limit of 3.");
    EXPECT_EQ(run("return cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 10)"),
              "ERR:Start offset 10 greater than input length 3.");
    EXPECT_EQ(run("return cmsgpack.unpack('\\193')"), "ERR:Bad data format in input.");
    EXPECT_EQ(run("return cmsgpack.unpack('\\146\\1')"), "ERR:Missing bytes in input.");
    EXPECT_EQ(run("return cmsgpack.unpack('\\219\\0\\0\\0\\9ab')"), "ERR:Missing bytes in input.");
    EXPECT_EQ(run("return cmsgpack._VERSION"), "lua-cmsgpack 0.4.0");
    // Deep nesting is refused through Lua's stack limit, not the C stack.
    EXPECT_EQ(run("return cmsgpack.unpack(string.rep('\\145', 100000))").substr(0, 4), "ERR:");
}

TEST_F(LuaLibs, StructPackUnpackMatchesRedis)
{
    EXPECT_EQ(hex(run("return struct.pack('>i2<HbBc3s', 1, 2, -1, 255, 'abcd', 'zz')")), "00010200ffff6162637a7a00");
    EXPECT_EQ(hex(run("return struct.pack('!4bi', 1, 2)")), "0100000002000000");
    EXPECT_EQ(run("local a,b,c,d,e,f,n = struct.unpack('>i2<HbBc3s', "
                  "struct.pack('>i2<HbBc3s', 1, 2, -1, 255, 'abcd', 'zz')) "
                  "return table.concat({a,b,c,d,e,f,n}, ',')"),
              "1,2,-1,255,abc,zz,13");
    EXPECT_EQ(run("return struct.size('!4bid')"), "16");
    EXPECT_EQ(run("return struct.size('z')"), "0");
    EXPECT_EQ(run("local s,n = struct.unpack('bc0', struct.pack('bc0', 3, 'xyz')) return s..n"), "xyz5");
    EXPECT_EQ(run("local a,b = struct.unpack('>d<f', struct.pack('>d<f', 1.5, 2.25)) return a..','..b"),
              "1.5,2.25");
    EXPECT_EQ(hex(run("return struct.pack('>d', 1.5)")), "3ff8000000000000");
    EXPECT_EQ(hex(run("return struct.pack('<i3', -2)")), "feffff");
    EXPECT_EQ(run("return struct.unpack('<i3', '\\254\\255\\255')"), "-2");
    EXPECT_EQ(run("return struct.unpack('<I3', '\\254\\255\\255')"), "16777214");
    EXPECT_EQ(run("local a,n = struct.unpack('B', 'xyz', 2) return a..','..n"), "121,3");
    EXPECT_EQ(hex(run("return struct.pack('>I10', 258)")), "00000000000000000102");
}

TEST_F(LuaLibs, StructErrorsMatchRedis)
{
    EXPECT_EQ(run("return struct.pack('z', 1)"), "ERR:bad argument #1 to 'pack' (invalid format option 'z')");
    EXPECT_EQ(run("return struct.size('s')"), "ERR:bad argument #1 to 'size' (option 's' has no fixed size)");
    EXPECT_EQ(run("return struct.size('c0')"), "ERR:bad argument #1 to 'size' (option 'c0' has no fixed size)");
    EXPECT_EQ(run("return struct.pack('c5', 'ab')"), "ERR:bad argument #3 to 'pack' (string too short)");
    EXPECT_EQ(run("return struct.unpack('i4', 'ab')"), "ERR:bad argument #2 to 'unpack' (data string too short)");
    EXPECT_EQ(run("return struct.unpack('i4', 'abcd', 0)"), "ERR:bad argument #3 to 'unpack' (offset must be 1 or greater)");
    EXPECT_EQ(run("return struct.pack('i33', 1)"), "ERR:integral size 33 is larger than limit of 32");
    EXPECT_EQ(run("return struct.pack('!3i', 1)"), "ERR:alignment 3 is not a power of 2");
    EXPECT_EQ(run("return struct.unpack('c0', 'abc')"), "ERR:format 'c0' needs a previous size");
    EXPECT_EQ(run("return struct.unpack('s', 'abc')"), "ERR:unfinished string in data");
    EXPECT_EQ(run("return struct.pack('i99999999999', 1)"), "ERR:integral size overflow");
}

}  // namespace
