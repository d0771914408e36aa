// Unit tests for core/config.c and core/log.c: parsing, quoting, units,
// errors with line numbers, CONFIG GET/SET, glob matching, rewrite; the
// replication directives against Redis 7.0's replies.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include "core/config.h"
#include "core/log.h"
#include "io/loop.h"
}

namespace {

// A temp dir that restores the working directory (config_load may chdir).
class ConfigTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/rk_cfgtest_XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        char *cwd = getcwd(nullptr, 0);
        ASSERT_NE(cwd, nullptr);
        cwd_ = cwd;
        free(cwd);
        config_init_defaults(&cfg_);
    }
    void TearDown() override {
        config_free(&cfg_);
        ASSERT_EQ(chdir(cwd_.c_str()), 0);
        std::string cmd = "rm -rf '" + dir_ + "'";
        ASSERT_EQ(system(cmd.c_str()), 0);
    }
    std::string write(const std::string &name, const std::string &text) {
        std::string path = dir_ + "/" + name;
        std::ofstream(path) << text;
        return path;
    }
    static std::string slurp(const std::string &path) {
        std::ifstream in(path);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    int load(const std::string &text, std::vector<std::string> args = {}) {
        std::string path = write("t.conf", text);
        return load_path(path.c_str(), args);
    }
    int load_path(const char *path, std::vector<std::string> args) {
        std::vector<char *> argv;
        for (auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
        return config_load(&cfg_, path, (int)argv.size(), argv.data(), err_, sizeof err_);
    }
    std::map<std::string, std::string> get(const char *pattern) {
        std::map<std::string, std::string> out;
        config_get(&cfg_, pattern, [](void *ud, const char *n, const char *v) {
            (*static_cast<std::map<std::string, std::string> *>(ud))[n] = v;
        }, &out);
        return out;
    }
    std::string get1(const char *name) { return get(name)[name]; }

    rk_config cfg_;
    char err_[1024] = "";
    std::string dir_, cwd_;
};

TEST_F(ConfigTest, Defaults) {
    EXPECT_EQ(cfg_.port, 6379);
    EXPECT_EQ(get1("bind"), "* -::*");
    EXPECT_EQ(get1("protected-mode"), "yes");
    EXPECT_EQ(get1("requirepass"), "");
    EXPECT_EQ(get1("logfile"), "");
    EXPECT_EQ(get1("loglevel"), "notice");
    EXPECT_EQ(get1("databases"), "16");
    EXPECT_EQ(get1("maxclients"), "10000");
    EXPECT_EQ(get1("tcp-backlog"), "511");
    EXPECT_EQ(get1("hz"), "10");
    EXPECT_EQ(get1("proto-max-bulk-len"), "536870912");
    EXPECT_EQ(get1("client-query-buffer-limit"), "1073741824");
    EXPECT_EQ(get1("client-output-buffer-limit"),
              "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
    EXPECT_EQ(get1("enable-debug-command"), "no");
    EXPECT_EQ(get1("io-backend"), "auto");
    EXPECT_EQ(get1("save"), "3600 1 300 100 60 10000");
    EXPECT_EQ(cfg_.n_save_params, 3);
    EXPECT_EQ(cfg_.save_params[2].seconds, 60);
    EXPECT_EQ(cfg_.save_params[2].changes, 10000);
    EXPECT_EQ(get1("dbfilename"), "dump.rdb");
    EXPECT_EQ(get1("rdbcompression"), "yes");
    EXPECT_EQ(get1("rdbchecksum"), "yes");
    EXPECT_EQ(get1("stop-writes-on-bgsave-error"), "yes");
    EXPECT_GE(cfg_.shards, 1);
    EXPECT_LE(cfg_.shards, 64);
}

TEST_F(ConfigTest, ParsesFileCommentsBlankLinesAndCase) {
    ASSERT_EQ(load("# comment\n\n   \nPORT 7000\n  Hz 20  \r\nloglevel WARNING\n"
                   "protected-mode no\nenable-debug-command local\nio-backend epoll\nshards 3\n"), 0)
        << err_;
    EXPECT_EQ(cfg_.port, 7000);
    EXPECT_EQ(cfg_.hz, 20);
    EXPECT_EQ(cfg_.loglevel, LL_WARNING);
    EXPECT_EQ(cfg_.protected_mode, 0);
    EXPECT_EQ(cfg_.enable_debug_command, DEBUGCMD_LOCAL);
    EXPECT_EQ(cfg_.io_backend, RK_BACKEND_EPOLL);
    EXPECT_EQ(cfg_.shards, 3);
    EXPECT_NE(cfg_.config_file, nullptr);
}

TEST_F(ConfigTest, Quoting) {
    ASSERT_EQ(load("requirepass \"a b\\tc\\x41\\\"\"\n"), 0) << err_;
    EXPECT_STREQ(cfg_.requirepass, "a b\tcA\"");
    ASSERT_EQ(load("requirepass 'it\\'s'\n"), 0) << err_;
    EXPECT_STREQ(cfg_.requirepass, "it's");
    ASSERT_EQ(load("requirepass ab\"c d\"\n"), 0) << err_;  // quotes may start mid-token
    EXPECT_STREQ(cfg_.requirepass, "abc d");
    ASSERT_EQ(load("requirepass \"\"\n"), 0) << err_;
    EXPECT_EQ(cfg_.requirepass, nullptr);
}

TEST_F(ConfigTest, UnbalancedQuotes) {
    EXPECT_EQ(load("port 1\nrequirepass \"abc\n"), -1);
    EXPECT_NE(strstr(err_, "at line 2\n>>> 'requirepass \"abc'\nUnbalanced quotes in configuration line"),
              nullptr) << err_;
    EXPECT_EQ(load("requirepass \"abc\"x\n"), -1);  // closing quote must end the token
}

TEST_F(ConfigTest, MemoryUnits) {
    ASSERT_EQ(load("proto-max-bulk-len 2mb\nclient-query-buffer-limit 1GB\n"), 0) << err_;
    EXPECT_EQ(cfg_.proto_max_bulk_len, 2LL << 20);
    EXPECT_EQ(cfg_.client_query_buffer_limit, 1LL << 30);
    ASSERT_EQ(load("proto-max-bulk-len 2000k\n"), 0) << err_;
    EXPECT_EQ(cfg_.proto_max_bulk_len, 2000000);
    ASSERT_EQ(load("proto-max-bulk-len 1m\n"), -1);  // 1,000,000 < 1mb
    EXPECT_NE(strstr(err_, "argument must be between 1048576 and 9223372036854775807 inclusive"), nullptr);
    ASSERT_EQ(load("proto-max-bulk-len 12x\n"), -1);
    EXPECT_NE(strstr(err_, "argument must be a memory value"), nullptr);
    ASSERT_EQ(load("proto-max-bulk-len 1gb\n"), 0);
    EXPECT_EQ(get1("proto-max-bulk-len"), "1073741824");
}

TEST_F(ConfigTest, ErrorsNameLineAndDirective) {
    EXPECT_EQ(load("# hi\nport 99999\n"), -1);
    EXPECT_EQ(std::string(err_),
                 "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"
                 "Reading the configuration file " + std::string(cfg_.config_file) + ", at line 2\n"
                 ">>> 'port 99999'\n"
                 "argument must be between 0 and 65535 inclusive");
    EXPECT_EQ(load("prot 1\n"), -1);
    EXPECT_NE(strstr(err_, "at line 1\n>>> 'prot 1'\nBad directive or wrong number of arguments"), nullptr);
    EXPECT_EQ(load("port 1 2\n"), -1);
    EXPECT_NE(strstr(err_, "wrong number of arguments"), nullptr);
    EXPECT_EQ(load("daemonize maybe\n"), -1);
    EXPECT_NE(strstr(err_, "argument must be 'yes' or 'no'"), nullptr);
    EXPECT_EQ(load("loglevel loud\n"), -1);
    EXPECT_NE(strstr(err_, "argument(s) must be one of the following: debug, verbose, notice, warning, nothing"),
              nullptr);
    EXPECT_EQ(load("hz abc\n"), -1);
    EXPECT_NE(strstr(err_, "argument couldn't be parsed into an integer"), nullptr);
    EXPECT_EQ(load("shards 65\n"), -1);
    EXPECT_EQ(load("databases 0\n"), -1);
    EXPECT_EQ(load("dir /nonexistent/rk\n"), -1);
    EXPECT_NE(strstr(err_, ">>> 'dir /nonexistent/rk'\nNo such file or directory"), nullptr) << err_;
}

TEST_F(ConfigTest, ArgvActsAsLinesAfterFile) {
    // Redis: file, then a newline, then the options: "port 7000\n" + "\n" + ... -> line 3
    EXPECT_EQ(load("port 7000\n", {"--port", "99999"}), -1);
    EXPECT_STREQ(err_,
                 "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"
                 "Reading the configuration file (command line), at line 3\n"
                 ">>> 'port \"99999\"'\n"
                 "argument must be between 0 and 65535 inclusive");
    ASSERT_EQ(load("port 7000\n", {"--port", "7001", "--loglevel", "debug", "--bind", "127.0.0.1", "::1"}), 0)
        << err_;
    EXPECT_EQ(cfg_.port, 7001);
    EXPECT_EQ(cfg_.loglevel, LL_DEBUG);
    EXPECT_EQ(get1("bind"), "127.0.0.1 ::1");
    // Without a file; one argument holding several values is split.
    ASSERT_EQ(load_path(nullptr, {"--bind", "1.2.3.4 -::1", "--client-output-buffer-limit",
                                  "normal 1mb 2mb 3 pubsub 1 2 3"}), 0) << err_;
    EXPECT_EQ(get1("bind"), "1.2.3.4 -::1");
    EXPECT_EQ(get1("client-output-buffer-limit"),
              "normal 1048576 2097152 3 slave 268435456 67108864 60 pubsub 1 2 3");
    EXPECT_EQ(load_path(nullptr, {"--foo", "bar"}), -1);
    EXPECT_NE(strstr(err_, "at line 2\n>>> 'foo \"bar\"'\nBad directive"), nullptr) << err_;
}

TEST_F(ConfigTest, Include) {
    write("inc.conf", "hz 33\n\nport 99999\n");
    std::string inc = dir_ + "/inc.conf";
    ASSERT_EQ(load("port 1\ninclude " + inc + "\n"), -1);
    EXPECT_NE(strstr(err_, "at line 3\n>>> 'port 99999'"), nullptr) << err_;
    write("inc.conf", "hz 33\n");
    ASSERT_EQ(load("port 1\ninclude " + inc + "\n"), 0) << err_;
    EXPECT_EQ(cfg_.hz, 33);
}

TEST_F(ConfigTest, DirChdirsAndLogfileIsChecked) {
    ASSERT_EQ(load("dir " + dir_ + "\nlogfile rk.log\n"), 0) << err_;
    char *real = realpath(dir_.c_str(), nullptr);
    EXPECT_STREQ(cfg_.dir, real);
    free(real);
    EXPECT_EQ(access((dir_ + "/rk.log").c_str(), F_OK), 0);
    EXPECT_EQ(load("logfile /nonexistent/rk.log\n"), -1);
    EXPECT_STREQ(err_, "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"
                       "Can't open the log file: No such file or directory");
}

TEST_F(ConfigTest, HzIsClamped) {
    ASSERT_EQ(load("hz 0\n"), 0);
    EXPECT_EQ(cfg_.hz, 1);
    ASSERT_EQ(config_apply_set(&cfg_, "hz", "1000", err_, sizeof err_), 0);
    EXPECT_EQ(get1("hz"), "500");
}

TEST_F(ConfigTest, ClientOutputBufferLimit) {
    ASSERT_EQ(load("client-output-buffer-limit replica 1gb 512mb 30 pubsub 0 0 0\n"), 0) << err_;
    EXPECT_EQ(cfg_.obuf_limits[CLIENT_CLASS_REPLICA].hard_bytes, 1LL << 30);
    EXPECT_EQ(cfg_.obuf_limits[CLIENT_CLASS_PUBSUB].soft_seconds, 0);
    EXPECT_EQ(load("client-output-buffer-limit master 1 1 1\n"), -1);
    EXPECT_NE(strstr(err_, "Invalid client class specified in buffer limit configuration."), nullptr);
    EXPECT_EQ(load("client-output-buffer-limit normal 1 1\n"), -1);
    EXPECT_NE(strstr(err_, "Wrong number of arguments in buffer limit configuration."), nullptr);
    EXPECT_EQ(load("client-output-buffer-limit normal x 1 1\n"), -1);
    EXPECT_NE(strstr(err_, "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
              nullptr);
}

// Redis 7: the first save line replaces the defaults, later ones append,
// save "" (or a bare save) clears, a single argument holding pairs is split.
TEST_F(ConfigTest, SaveInFileAndArgs) {
    ASSERT_EQ(load("save 900 1\nsave 300 10\n"), 0) << err_;
    EXPECT_EQ(get1("save"), "900 1 300 10");
    ASSERT_EQ(load("save 900 1 300 10 60 0\n"), 0) << err_;  // several pairs on one line
    EXPECT_EQ(get1("save"), "900 1 300 10 60 0");
    ASSERT_EQ(load("save 900 1\nsave \"\"\n"), 0) << err_;
    EXPECT_EQ(get1("save"), "");
    EXPECT_EQ(cfg_.n_save_params, 0);
    ASSERT_EQ(load("save \"\"\nsave 900 1\n"), 0) << err_;
    EXPECT_EQ(get1("save"), "900 1");
    ASSERT_EQ(load("save\n"), 0) << err_;  // as redis-server 7.0.15: no pairs clears too
    EXPECT_EQ(get1("save"), "");
    ASSERT_EQ(load("save +10 1\n"), 0) << err_;  // strtoll syntax, as Redis
    EXPECT_EQ(get1("save"), "10 1");
    // Command line: the file's save lines then --save append; --save "" and a
    // bare --save clear; one argument with pairs is split.
    ASSERT_EQ(load("save 900 1\n", {"--save", "60", "5"}), 0) << err_;
    EXPECT_EQ(get1("save"), "900 1 60 5");
    ASSERT_EQ(load_path(nullptr, {"--save", "10 0 20 1"}), 0) << err_;
    EXPECT_EQ(get1("save"), "10 0 20 1");
    config_free(&cfg_);
    config_init_defaults(&cfg_);
    ASSERT_EQ(load_path(nullptr, {"--save", "10", "0", "--save", "20", "1"}), 0) << err_;
    EXPECT_EQ(get1("save"), "10 0 20 1");
    ASSERT_EQ(load_path(nullptr, {"--save", "", "--port", "7000"}), 0) << err_;
    EXPECT_EQ(get1("save"), "");
    config_free(&cfg_);
    config_init_defaults(&cfg_);
    ASSERT_EQ(load_path(nullptr, {"--port", "7000", "--save"}), 0) << err_;
    EXPECT_EQ(get1("save"), "");
    config_free(&cfg_);
    config_init_defaults(&cfg_);
    ASSERT_EQ(load_path(nullptr, {"--port", "7000"}), 0) << err_;
    EXPECT_EQ(get1("save"), "3600 1 300 100 60 10000");  // no save line: defaults stay
}

TEST_F(ConfigTest, SaveErrors) {
    const char *bad[] = {"save 5\n", "save 0 1\n", "save 10 -1\n", "save abc 1\n", "save 10 1x\n",
                         "save -5 1\n", "save 10 1 20\n", "save 99999999999999999999 1\n"};
    for (const char *text : bad) {
        config_free(&cfg_);
        config_init_defaults(&cfg_);
        EXPECT_EQ(load(text), -1) << text;
        std::string line(text, strlen(text) - 1);
        EXPECT_NE(strstr(err_, (">>> '" + line + "'\nInvalid save parameters").c_str()), nullptr) << err_;
        EXPECT_EQ(get1("save"), "3600 1 300 100 60 10000") << text;  // nothing changed
    }
    EXPECT_EQ(load_path(nullptr, {"--save", "5"}), -1);
    EXPECT_STREQ(err_, "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"
                       "Reading the configuration file (command line), at line 2\n"
                       ">>> 'save \"5\"'\n"
                       "Invalid save parameters");
    // The list is bounded: RK_MAX_SAVE_PARAMS points in all, over any number of lines.
    std::string text;
    for (int i = 1; i <= RK_MAX_SAVE_PARAMS; i++) text += "save " + std::to_string(i) + " 1\n";
    ASSERT_EQ(load(text), 0) << err_;
    EXPECT_EQ(cfg_.n_save_params, RK_MAX_SAVE_PARAMS);
    EXPECT_EQ(cfg_.save_params[RK_MAX_SAVE_PARAMS - 1].seconds, RK_MAX_SAVE_PARAMS);
    EXPECT_EQ(load(text + "save 99 1\n"), -1);
    EXPECT_NE(strstr(err_, "Too many save parameters (at most 16 save points)"), nullptr) << err_;
}

TEST_F(ConfigTest, SaveConfigSet) {
    ASSERT_EQ(config_apply_set(&cfg_, "save", "900 1 300 10", err_, sizeof err_), 0) << err_;
    EXPECT_EQ(get1("save"), "900 1 300 10");
    ASSERT_EQ(config_apply_set(&cfg_, "SAVE", "10 0", err_, sizeof err_), 0) << err_;  // replaces
    EXPECT_EQ(get1("save"), "10 0");
    // Redis splits on single spaces: a doubled or a leading/trailing space
    // makes an empty number, which is refused (as redis-server 7.0.15).
    const char *bad[] = {"10", "0 1", "10 -1", "abc 1", "10  1", " 10 1", "10 1 ", "10 1 20"};
    for (const char *v : bad) {
        EXPECT_EQ(config_check_set(&cfg_, "save", v, err_, sizeof err_), -1) << v;
        EXPECT_STREQ(err_, "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters");
        EXPECT_EQ(config_apply_set(&cfg_, "save", v, err_, sizeof err_), -1) << v;
        EXPECT_EQ(get1("save"), "10 0") << v;  // a failed SET changes nothing
    }
    ASSERT_EQ(config_apply_set(&cfg_, "save", "", err_, sizeof err_), 0) << err_;
    EXPECT_EQ(get1("save"), "");
    EXPECT_EQ(cfg_.n_save_params, 0);
    std::string many;
    for (int i = 1; i <= RK_MAX_SAVE_PARAMS + 1; i++) many += (i > 1 ? " " : "") + std::to_string(i) + " 1";
    EXPECT_EQ(config_apply_set(&cfg_, "save", many.c_str(), err_, sizeof err_), -1);
    EXPECT_EQ(cfg_.n_save_params, 0);
    EXPECT_TRUE(config_is_mutable("save"));
}

TEST_F(ConfigTest, RdbDirectives) {
    ASSERT_EQ(load("dbfilename my.rdb\nrdbcompression no\nrdbchecksum no\nstop-writes-on-bgsave-error no\n"), 0)
        << err_;
    EXPECT_STREQ(cfg_.dbfilename, "my.rdb");
    EXPECT_EQ(cfg_.rdbcompression, 0);
    EXPECT_EQ(cfg_.rdbchecksum, 0);
    EXPECT_EQ(cfg_.stop_writes_on_bgsave_error, 0);
    EXPECT_EQ(get1("dbfilename"), "my.rdb");
    EXPECT_EQ(load("dbfilename a/b.rdb\n"), -1);
    EXPECT_NE(strstr(err_, ">>> 'dbfilename a/b.rdb'\ndbfilename can't be a path, just a filename"), nullptr)
        << err_;
    EXPECT_EQ(load("dbfilename 'a\\\\b'\n"), -1);  // Redis's pathIsBaseName refuses '\' too
    EXPECT_NE(strstr(err_, "dbfilename can't be a path, just a filename"), nullptr) << err_;
    EXPECT_STREQ(cfg_.dbfilename, "my.rdb");
    EXPECT_EQ(load_path(nullptr, {"--dbfilename", "/tmp/x.rdb"}), -1);
    EXPECT_NE(strstr(err_, ">>> 'dbfilename \"/tmp/x.rdb\"'\ndbfilename can't be a path, just a filename"), nullptr)
        << err_;
    EXPECT_EQ(load("rdbcompression maybe\n"), -1);
    EXPECT_NE(strstr(err_, "argument must be 'yes' or 'no'"), nullptr);

    // CONFIG SET: dbfilename is protected, rdbchecksum immutable (both as
    // Redis 7.0 by default), the other two mutable.
    EXPECT_EQ(config_check_set(&cfg_, "dbfilename", "x.rdb", err_, sizeof err_), -1);
    EXPECT_STREQ(err_, "ERR CONFIG SET failed (possibly related to argument 'dbfilename') - "
                       "can't set protected config");
    EXPECT_EQ(config_check_set(&cfg_, "rdbchecksum", "yes", err_, sizeof err_), -1);
    EXPECT_STREQ(err_, "ERR CONFIG SET failed (possibly related to argument 'rdbchecksum') - "
                       "can't set immutable config");
    EXPECT_FALSE(config_is_mutable("dbfilename"));
    EXPECT_FALSE(config_is_mutable("rdbchecksum"));
    ASSERT_EQ(config_apply_set(&cfg_, "rdbcompression", "yes", err_, sizeof err_), 0) << err_;
    ASSERT_EQ(config_apply_set(&cfg_, "stop-writes-on-bgsave-error", "yes", err_, sizeof err_), 0) << err_;
    EXPECT_EQ(cfg_.rdbcompression, 1);
    EXPECT_EQ(cfg_.stop_writes_on_bgsave_error, 1);
    EXPECT_EQ(config_check_set(&cfg_, "rdbcompression", "x", err_, sizeof err_), -1);
    EXPECT_STREQ(err_, "ERR CONFIG SET failed (possibly related to argument 'rdbcompression') - "
                       "argument must be 'yes' or 'no'");

    // Each copy owns its own dbfilename and save points.
    rk_config copy;
    ASSERT_EQ(config_copy(&copy, &cfg_), 0);
    EXPECT_STREQ(copy.dbfilename, "my.rdb");
    EXPECT_NE(copy.dbfilename, cfg_.dbfilename);
    EXPECT_EQ(copy.n_save_params, cfg_.n_save_params);
    ASSERT_EQ(config_apply_set(&copy, "save", "1 1", err_, sizeof err_), 0);
    EXPECT_EQ(get1("save"), "3600 1 300 100 60 10000");
    config_free(&copy);
}

TEST_F(ConfigTest, GetGlob) {
    auto all = get("*");
    // Every directive, aliases included as Redis 7.0 lists them (the
    // count grows with each directive added, so probe members instead).
    EXPECT_GE(all.size(), 95u);
    for (const char *name : {"port", "hash-max-ziplist-entries", "hash-max-listpack-entries",
                             "slave-read-only", "replica-read-only", "hll-sparse-max-bytes"})
        EXPECT_EQ(all.count(name), 1u) << name;
    auto some = get("SLOWLOG-*");
    EXPECT_EQ(some.size(), 2u);
    EXPECT_EQ(some["slowlog-max-len"], "128");
    EXPECT_EQ(get("nosuch").size(), 0u);
}

TEST_F(ConfigTest, SetErrorsMatchRedis) {
    EXPECT_EQ(config_check_set(&cfg_, "hz", "abc", err_, sizeof err_), -1);
    EXPECT_STREQ(err_, "ERR CONFIG SET failed (possibly related to argument 'hz') - "
                       "argument couldn't be parsed into an integer");
    EXPECT_EQ(config_check_set(&cfg_, "foo", "1", err_, sizeof err_), -1);
    EXPECT_STREQ(err_, "ERR Unknown option or number of arguments for CONFIG SET - 'foo'");
    EXPECT_EQ(config_check_set(&cfg_, "port", "7000", err_, sizeof err_), -1);
    EXPECT_STREQ(err_, "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config");
    EXPECT_EQ(config_check_set(&cfg_, "dir", "/tmp", err_, sizeof err_), -1);
    EXPECT_STREQ(err_, "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config");
    EXPECT_EQ(config_check_set(&cfg_, "maxclients", "0", err_, sizeof err_), -1);
    EXPECT_STREQ(err_, "ERR CONFIG SET failed (possibly related to argument 'maxclients') - "
                       "argument must be between 1 and 4294967295 inclusive");
    EXPECT_FALSE(config_is_mutable("daemonize"));
    EXPECT_FALSE(config_is_mutable("shards"));
    EXPECT_TRUE(config_is_mutable("MAXCLIENTS"));
}

TEST_F(ConfigTest, CheckChangesNothingApplyChanges) {
    ASSERT_EQ(config_check_set(&cfg_, "maxclients", "5", err_, sizeof err_), 0);
    EXPECT_EQ(cfg_.maxclients, 10000);
    ASSERT_EQ(config_apply_set(&cfg_, "MaxClients", "5", err_, sizeof err_), 0);
    EXPECT_EQ(cfg_.maxclients, 5);
    ASSERT_EQ(config_apply_set(&cfg_, "client-output-buffer-limit", "normal 1mb 2mb 3", err_, sizeof err_), 0);
    EXPECT_EQ(get1("client-output-buffer-limit"),
              "normal 1048576 2097152 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
    EXPECT_EQ(config_apply_set(&cfg_, "client-output-buffer-limit", "normal 1 2 3 slave 1 2", err_, sizeof err_),
              -1);
    EXPECT_EQ(cfg_.obuf_limits[CLIENT_CLASS_NORMAL].hard_bytes, 1LL << 20);  // unchanged by the failure
    ASSERT_EQ(config_apply_set(&cfg_, "requirepass", "secret", err_, sizeof err_), 0);
    EXPECT_STREQ(cfg_.requirepass, "secret");
    ASSERT_EQ(config_apply_set(&cfg_, "requirepass", "", err_, sizeof err_), 0);
    EXPECT_EQ(cfg_.requirepass, nullptr);

    rk_config copy;
    ASSERT_EQ(config_copy(&copy, &cfg_), 0);
    EXPECT_EQ(copy.maxclients, 5);
    EXPECT_STREQ(copy.bind[0], "*");
    EXPECT_NE(copy.bind[0], cfg_.bind[0]);
    config_free(&copy);
}

// ---- replication directives (Redis 7.0's names, ranges, errors) ----

TEST_F(ConfigTest, ReplicationDefaults) {
    EXPECT_EQ(get1("replicaof"), "");
    EXPECT_EQ(get1("slaveof"), "");
    EXPECT_EQ(cfg_.replicaof_host, nullptr);
    EXPECT_EQ(get1("masterauth"), "");
    EXPECT_EQ(get1("masteruser"), "");
    EXPECT_EQ(get1("repl-backlog-size"), "1048576");
    EXPECT_EQ(get1("repl-backlog-ttl"), "3600");
    EXPECT_EQ(get1("repl-diskless-sync"), "yes");
    EXPECT_EQ(get1("repl-diskless-sync-delay"), "5");
    EXPECT_EQ(get1("repl-diskless-sync-max-replicas"), "0");
    EXPECT_EQ(get1("repl-diskless-load"), "disabled");
    EXPECT_EQ(get1("repl-ping-replica-period"), "10");
    EXPECT_EQ(get1("repl-ping-slave-period"), "10");
    EXPECT_EQ(get1("repl-timeout"), "60");
    EXPECT_EQ(get1("repl-disable-tcp-nodelay"), "no");
    EXPECT_EQ(get1("min-replicas-to-write"), "0");
    EXPECT_EQ(get1("min-replicas-max-lag"), "10");
    EXPECT_EQ(get1("replica-read-only"), "yes");
    EXPECT_EQ(get1("replica-serve-stale-data"), "yes");
    EXPECT_EQ(get1("replica-priority"), "100");
    EXPECT_EQ(get1("replica-announce-ip"), "");
    EXPECT_EQ(get1("replica-announce-port"), "0");
    EXPECT_EQ(get1("replica-announced"), "yes");
    EXPECT_EQ(get1("replica-lazy-flush"), "no");
    // Globs list aliases as Redis 7.0 does.
    auto slave = get("*slave*");
    EXPECT_EQ(slave.size(), 10u);
    EXPECT_EQ(slave["slave-read-only"], "yes");
    EXPECT_EQ(slave["slaveof"], "");
    EXPECT_EQ(get("*ziplist*").size(), 5u);
}

TEST_F(ConfigTest, ReplicationFromFileAndArgs) {
    ASSERT_EQ(load("slaveof 10.0.0.1 6380\nmasterauth \"p w\"\nmasteruser alice\n"
                   "repl-backlog-size 100\nrepl-backlog-ttl 0\nrepl-diskless-sync no\n"
                   "repl-diskless-sync-delay 0\nrepl-diskless-sync-max-replicas 3\n"
                   "repl-diskless-load ON-EMPTY-DB\nrepl-ping-slave-period 2\nrepl-timeout 7\n"
                   "repl-disable-tcp-nodelay yes\nmin-slaves-to-write 2\nmin-slaves-max-lag 4\n"
                   "slave-read-only no\nslave-serve-stale-data no\nslave-priority 0\n"
                   "slave-announce-ip 1.2.3.4\nslave-announce-port 1234\nreplica-announced no\n"
                   "slave-lazy-flush yes\n",
                   {"--replicaof", "127.0.0.1", "7000", "--repl-backlog-size", "2mb"}),
              0)
        << err_;
    EXPECT_STREQ(cfg_.replicaof_host, "127.0.0.1");  // the command line comes last
    EXPECT_EQ(cfg_.replicaof_port, 7000);
    EXPECT_EQ(get1("replicaof"), "127.0.0.1 7000");
    EXPECT_EQ(get1("slaveof"), "127.0.0.1 7000");
    EXPECT_STREQ(cfg_.masterauth, "p w");
    EXPECT_EQ(get1("masterauth"), "p w");
    EXPECT_EQ(get1("masteruser"), "alice");
    EXPECT_EQ(cfg_.repl_backlog_size, 2LL << 20);
    EXPECT_EQ(cfg_.repl_backlog_ttl, 0);
    EXPECT_EQ(cfg_.repl_diskless_sync, 0);
    EXPECT_EQ(cfg_.repl_diskless_sync_delay, 0);
    EXPECT_EQ(cfg_.repl_diskless_sync_max_replicas, 3);
    EXPECT_EQ(cfg_.repl_diskless_load, REPL_DISKLESS_LOAD_ON_EMPTY_DB);
    EXPECT_EQ(get1("repl-diskless-load"), "on-empty-db");
    EXPECT_EQ(cfg_.repl_ping_replica_period, 2);
    EXPECT_EQ(cfg_.repl_timeout, 7);
    EXPECT_EQ(cfg_.repl_disable_tcp_nodelay, 1);
    EXPECT_EQ(cfg_.min_replicas_to_write, 2);
    EXPECT_EQ(cfg_.min_replicas_max_lag, 4);
    EXPECT_EQ(cfg_.replica_read_only, 0);
    EXPECT_EQ(cfg_.replica_serve_stale_data, 0);
    EXPECT_EQ(cfg_.replica_priority, 0);
    EXPECT_STREQ(cfg_.replica_announce_ip, "1.2.3.4");
    EXPECT_EQ(cfg_.replica_announce_port, 1234);
    EXPECT_EQ(cfg_.replica_announced, 0);
    EXPECT_EQ(cfg_.replica_lazy_flush, 1);

    rk_config copy;
    ASSERT_EQ(config_copy(&copy, &cfg_), 0);
    EXPECT_STREQ(copy.replicaof_host, "127.0.0.1");
    EXPECT_NE(copy.replicaof_host, cfg_.replicaof_host);
    EXPECT_NE(copy.masterauth, cfg_.masterauth);
    EXPECT_STREQ(copy.masteruser, "alice");
    EXPECT_STREQ(copy.replica_announce_ip, "1.2.3.4");
    config_free(&copy);

    // "no one" makes it a master again; a single "host port" argument is split.
    ASSERT_EQ(load("replicaof 1.1.1.1 1\nreplicaof no one\n"), 0) << err_;
    EXPECT_EQ(cfg_.replicaof_host, nullptr);
    EXPECT_EQ(get1("replicaof"), "");
    ASSERT_EQ(load("", {"--replicaof", "h 5"}), 0) << err_;
    EXPECT_EQ(get1("replicaof"), "h 5");
    // The config file keeps a small backlog size as given (Redis raises it
    // only on CONFIG SET).
    config_free(&cfg_);
    config_init_defaults(&cfg_);
    ASSERT_EQ(load("repl-backlog-size 100\n"), 0) << err_;
    EXPECT_EQ(cfg_.repl_backlog_size, 100);
}

TEST_F(ConfigTest, ReplicationLoadErrors) {
    EXPECT_EQ(load("replicaof 127.0.0.1 abc\n"), -1);
    EXPECT_NE(strstr(err_, ">>> 'replicaof 127.0.0.1 abc'\nInvalid master port"), nullptr) << err_;
    EXPECT_EQ(load("replicaof 127.0.0.1 65536\n"), -1);
    EXPECT_NE(strstr(err_, "\nInvalid master port"), nullptr) << err_;
    EXPECT_EQ(load("replicaof 127.0.0.1\n"), -1);
    EXPECT_NE(strstr(err_, ">>> 'replicaof 127.0.0.1'\nwrong number of arguments"), nullptr) << err_;
    EXPECT_EQ(load("slaveof a 1 2\n"), -1);
    EXPECT_NE(strstr(err_, "\nwrong number of arguments"), nullptr) << err_;
    EXPECT_EQ(load("repl-backlog-size 0\n"), -1);
    EXPECT_NE(strstr(err_, "\nargument must be between 1 and 9223372036854775807 inclusive"), nullptr) << err_;
    EXPECT_EQ(load("repl-diskless-load maybe\n"), -1);
    EXPECT_NE(strstr(err_, "\nargument(s) must be one of the following: disabled, on-empty-db, swapdb"),
              nullptr)
        << err_;
}

TEST_F(ConfigTest, ReplicationSetMatchesRedis) {
    struct Bad {
        const char *name, *value, *why;
    } bad[] = {
        {"repl-backlog-size", "0", "argument must be between 1 and 9223372036854775807 inclusive"},
        {"repl-backlog-size", "abc", "argument must be a memory value"},
        {"repl-backlog-size", "-1", "argument must be a memory value"},
        {"repl-backlog-ttl", "-1", "argument must be between 0 and 9223372036854775807 inclusive"},
        {"repl-backlog-ttl", "abc", "argument couldn't be parsed into an integer"},
        {"repl-timeout", "0", "argument must be between 1 and 2147483647 inclusive"},
        {"repl-ping-replica-period", "0", "argument must be between 1 and 2147483647 inclusive"},
        {"repl-diskless-load", "foo",
         "argument(s) must be one of the following: disabled, on-empty-db, swapdb"},
        {"repl-diskless-sync", "maybe", "argument must be 'yes' or 'no'"},
        {"replica-announce-port", "70000", "argument must be between 0 and 65535 inclusive"},
        {"min-replicas-to-write", "-1", "argument must be between 0 and 2147483647 inclusive"},
        {"replica-priority", "-1", "argument must be between 0 and 2147483647 inclusive"},
        {"repl-diskless-sync-delay", "-1", "argument must be between 0 and 2147483647 inclusive"},
        {"repl-diskless-sync-max-replicas", "-1", "argument must be between 0 and 2147483647 inclusive"},
        {"replicaof", "1.2.3.4 5", "can't set immutable config"},
        {"slaveof", "no one", "can't set immutable config"},
    };
    for (const Bad &b : bad) {
        EXPECT_EQ(config_check_set(&cfg_, b.name, b.value, err_, sizeof err_), -1) << b.name;
        std::string want = std::string("ERR CONFIG SET failed (possibly related to argument '") + b.name +
                           "') - " + b.why;
        EXPECT_EQ(std::string(err_), want);
    }
    EXPECT_FALSE(config_is_mutable("replicaof"));
    EXPECT_FALSE(config_is_mutable("slaveof"));
    const char *mutable_names[] = {
        "masterauth", "masteruser", "repl-backlog-size", "repl-backlog-ttl", "repl-diskless-sync",
        "repl-diskless-sync-delay", "repl-diskless-sync-max-replicas", "repl-diskless-load",
        "repl-ping-replica-period", "repl-ping-slave-period", "repl-timeout", "repl-disable-tcp-nodelay",
        "min-replicas-to-write", "min-slaves-to-write", "min-replicas-max-lag", "min-slaves-max-lag",
        "replica-read-only", "slave-read-only", "replica-serve-stale-data", "slave-serve-stale-data",
        "replica-priority", "slave-priority", "replica-announce-ip", "slave-announce-ip",
        "replica-announce-port", "slave-announce-port", "replica-announced", "replica-lazy-flush",
        "slave-lazy-flush"};
    for (const char *n : mutable_names) EXPECT_TRUE(config_is_mutable(n)) << n;

    // Set through an alias, read through both names.
    ASSERT_EQ(config_apply_set(&cfg_, "slave-read-only", "no", err_, sizeof err_), 0) << err_;
    EXPECT_EQ(get1("replica-read-only"), "no");
    EXPECT_EQ(get1("slave-read-only"), "no");
    ASSERT_EQ(config_apply_set(&cfg_, "masterauth", "secret", err_, sizeof err_), 0);
    EXPECT_EQ(get1("masterauth"), "secret");  // Redis 7.0 shows it
    ASSERT_EQ(config_apply_set(&cfg_, "masterauth", "", err_, sizeof err_), 0);
    EXPECT_EQ(cfg_.masterauth, nullptr);
    ASSERT_EQ(config_apply_set(&cfg_, "replica-announce-ip", "", err_, sizeof err_), 0);
    EXPECT_EQ(cfg_.replica_announce_ip, nullptr);
    // CONFIG SET raises a small backlog to Redis's 16 KiB minimum.
    ASSERT_EQ(config_apply_set(&cfg_, "repl-backlog-size", "100", err_, sizeof err_), 0);
    EXPECT_EQ(get1("repl-backlog-size"), "16384");
    ASSERT_EQ(config_apply_set(&cfg_, "repl-backlog-size", "2mb", err_, sizeof err_), 0);
    EXPECT_EQ(get1("repl-backlog-size"), "2097152");
    ASSERT_EQ(config_check_set(&cfg_, "repl-backlog-size", "1", err_, sizeof err_), 0);
    EXPECT_EQ(cfg_.repl_backlog_size, 2LL << 20);  // check changes nothing
}

TEST(GlobMatch, RedisSemantics) {
    auto m = [](const char *p, const char *s, int nocase = 0) {
        return glob_match(p, strlen(p), s, strlen(s), nocase);
    };
    EXPECT_TRUE(m("*", ""));
    EXPECT_TRUE(m("*", "anything"));
    EXPECT_TRUE(m("h?llo", "hello"));
    EXPECT_FALSE(m("h?llo", "hllo"));
    EXPECT_TRUE(m("h*llo", "heeeello"));
    EXPECT_TRUE(m("h[ae]llo", "hallo"));
    EXPECT_FALSE(m("h[ae]llo", "hillo"));
    EXPECT_TRUE(m("h[^e]llo", "hallo"));
    EXPECT_FALSE(m("h[^e]llo", "hello"));
    EXPECT_TRUE(m("h[a-b]llo", "hbllo"));
    EXPECT_TRUE(m("h[b-a]llo", "hallo"));  // reversed range
    EXPECT_FALSE(m("h[a-b]llo", "hcllo"));
    EXPECT_TRUE(m("h\\*llo", "h*llo"));
    EXPECT_FALSE(m("h\\*llo", "hello"));
    EXPECT_TRUE(m("[\\]]", "]"));
    EXPECT_FALSE(m("a[", "a["));  // unterminated class matches nothing (as Redis)
    EXPECT_TRUE(m("a[b", "ab"));
    EXPECT_FALSE(m("HELLO", "hello"));
    EXPECT_TRUE(m("HELLO", "hello", 1));
    EXPECT_TRUE(m("[A-C]x", "bx", 1));
    EXPECT_TRUE(m("*a*b*c", "xxaxxbxxc"));
    EXPECT_FALSE(m("*a*b*c", "xxaxxbxx"));
    EXPECT_TRUE(m("a**", "a"));
    EXPECT_FALSE(m("a?", "a"));
    // Many stars against a long non-matching string stays fast.
    std::string longs(5000, 'a');
    EXPECT_FALSE(m("*a*a*a*a*a*a*a*a*a*a*a*b", longs.c_str()));
}

class RewriteTest : public ConfigTest {};

TEST_F(RewriteTest, KeepsCommentsReplacesInPlaceAppendsRest) {
    std::string path = write("r.conf",
                             "# top comment\nport 7781\n\n# middle\nhz 10\nloglevel notice\nhz 20\n"
                             "unknown-thing 1 2\n");
    // The unknown line makes loading fail; build the state by hand instead.
    std::string good = write("g.conf", "# top comment\nport 7781\n\n# middle\nhz 10\nloglevel notice\nhz 20\n");
    ASSERT_EQ(load_path(good.c_str(), {}), 0) << err_;
    free(cfg_.config_file);
    cfg_.config_file = strdup(path.c_str());
    ASSERT_EQ(config_apply_set(&cfg_, "hz", "50", err_, sizeof err_), 0);
    ASSERT_EQ(config_apply_set(&cfg_, "timeout", "5", err_, sizeof err_), 0);
    ASSERT_EQ(config_apply_set(&cfg_, "requirepass", "a b", err_, sizeof err_), 0);
    ASSERT_EQ(config_apply_set(&cfg_, "client-output-buffer-limit", "normal 1mb 2mb 3", err_, sizeof err_), 0);
    ASSERT_EQ(config_rewrite(&cfg_, err_, sizeof err_), 0) << err_;
    std::string out = slurp(path);
    std::string expect_head =
        "# top comment\nport 7781\n\n# middle\nhz 50\nloglevel notice\n\nunknown-thing 1 2\n\n"
        "# Generated by CONFIG REWRITE\n";
    EXPECT_EQ(out.substr(0, expect_head.size()), expect_head) << out;
    EXPECT_NE(out.find("\nrequirepass \"a b\"\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\ntimeout 5\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\ndir \""), std::string::npos) << out;
    EXPECT_NE(out.find("\nclient-output-buffer-limit normal 1mb 2mb 3\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("replica"), std::string::npos) << out;  // default classes are not written
    EXPECT_EQ(out.find("databases"), std::string::npos) << out; // defaults are not written

    // The rewritten file loads back to the same values, and rewriting is stable.
    config_free(&cfg_);
    config_init_defaults(&cfg_);
    std::string text = out;
    text.erase(text.find("unknown-thing 1 2\n"), strlen("unknown-thing 1 2\n"));
    std::string path2 = write("r2.conf", text);
    ASSERT_EQ(load_path(path2.c_str(), {}), 0) << err_;
    EXPECT_EQ(cfg_.hz, 50);
    EXPECT_EQ(cfg_.timeout, 5);
    EXPECT_STREQ(cfg_.requirepass, "a b");
    EXPECT_EQ(cfg_.obuf_limits[CLIENT_CLASS_NORMAL].soft_seconds, 3);
    ASSERT_EQ(config_rewrite(&cfg_, err_, sizeof err_), 0) << err_;
    std::string once = slurp(path2);
    ASSERT_EQ(config_rewrite(&cfg_, err_, sizeof err_), 0) << err_;
    EXPECT_EQ(slurp(path2), once);
    EXPECT_EQ(once.find("replica"), std::string::npos) << once;

    // Back to defaults: in-file lines keep their place with default values,
    // and a requirepass set back to none disappears.
    ASSERT_EQ(config_apply_set(&cfg_, "requirepass", "", err_, sizeof err_), 0);
    ASSERT_EQ(config_apply_set(&cfg_, "hz", "10", err_, sizeof err_), 0);
    ASSERT_EQ(config_rewrite(&cfg_, err_, sizeof err_), 0) << err_;
    std::string back = slurp(path2);
    EXPECT_NE(back.find("# middle\nhz 10\n"), std::string::npos) << back;
    EXPECT_EQ(back.find("requirepass"), std::string::npos) << back;
}

// Redis 7.0's rewriteConfigSaveOption: save lines are always written (a
// line per point, in place of the old ones), save "" when there are none.
TEST_F(RewriteTest, SaveAndRdbDirectives) {
    std::string path = write("s.conf", "# c\nsave 900 1\nport 7781\nsave 300 10\nsave 60 100\n");
    ASSERT_EQ(load_path(path.c_str(), {}), 0) << err_;
    EXPECT_EQ(get1("save"), "900 1 300 10 60 100");
    ASSERT_EQ(config_apply_set(&cfg_, "save", "10 1 20 2", err_, sizeof err_), 0);
    ASSERT_EQ(config_apply_set(&cfg_, "rdbcompression", "no", err_, sizeof err_), 0);
    ASSERT_EQ(config_rewrite(&cfg_, err_, sizeof err_), 0) << err_;
    std::string out = slurp(path);
    EXPECT_EQ(out.rfind("# c\nsave 10 1\nport 7781\nsave 20 2\n\n# Generated by CONFIG REWRITE\n", 0), 0u) << out;
    EXPECT_NE(out.find("\nrdbcompression no\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("dbfilename"), std::string::npos) << out;  // default: not written
    EXPECT_EQ(out.find("rdbchecksum"), std::string::npos) << out;

    ASSERT_EQ(config_apply_set(&cfg_, "save", "", err_, sizeof err_), 0);
    ASSERT_EQ(config_rewrite(&cfg_, err_, sizeof err_), 0) << err_;
    out = slurp(path);
    EXPECT_EQ(out.rfind("# c\nsave \"\"\nport 7781\n\n# Generated by CONFIG REWRITE\n", 0), 0u) << out;
    config_free(&cfg_);
    config_init_defaults(&cfg_);
    ASSERT_EQ(load_path(path.c_str(), {}), 0) << err_;
    EXPECT_EQ(get1("save"), "");
    EXPECT_EQ(cfg_.rdbcompression, 0);

    // Default save points and a non-default dbfilename are written too.
    std::string p2 = write("s2.conf", "port 7781\ndbfilename \"my file.rdb\"\n");
    config_free(&cfg_);
    config_init_defaults(&cfg_);
    ASSERT_EQ(load_path(p2.c_str(), {}), 0) << err_;
    ASSERT_EQ(config_rewrite(&cfg_, err_, sizeof err_), 0) << err_;
    out = slurp(p2);
    EXPECT_NE(out.find("port 7781\ndbfilename \"my file.rdb\"\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nsave 3600 1\nsave 300 100\nsave 60 10000\n"), std::string::npos) << out;
    config_free(&cfg_);
    config_init_defaults(&cfg_);
    ASSERT_EQ(load_path(p2.c_str(), {}), 0) << err_;
    EXPECT_EQ(get1("save"), "3600 1 300 100 60 10000");
    EXPECT_STREQ(cfg_.dbfilename, "my file.rdb");
}

// Redis 7.0: replicaof is written as "replicaof host port" in place of an
// old slaveof line; a master has none (old lines go); alias lines are their
// directive's; masterauth is quoted; defaults are not appended.
TEST_F(RewriteTest, ReplicationDirectives) {
    std::string path = write("repl.conf",
                             "# c\nslaveof 10.0.0.9 7001\nslave-read-only yes\nhash-max-ziplist-entries 300\n"
                             "port 7781\n");
    ASSERT_EQ(load_path(path.c_str(), {}), 0) << err_;
    EXPECT_EQ(get1("replicaof"), "10.0.0.9 7001");
    ASSERT_EQ(config_apply_set(&cfg_, "replica-read-only", "no", err_, sizeof err_), 0);
    ASSERT_EQ(config_apply_set(&cfg_, "masterauth", "p \"w\"", err_, sizeof err_), 0);
    ASSERT_EQ(config_apply_set(&cfg_, "repl-backlog-size", "64mb", err_, sizeof err_), 0);
    ASSERT_EQ(config_apply_set(&cfg_, "repl-diskless-load", "swapdb", err_, sizeof err_), 0);
    ASSERT_EQ(config_apply_set(&cfg_, "min-slaves-to-write", "1", err_, sizeof err_), 0);
    ASSERT_EQ(config_rewrite(&cfg_, err_, sizeof err_), 0) << err_;
    std::string out = slurp(path);
    EXPECT_EQ(out.rfind("# c\nreplicaof 10.0.0.9 7001\nreplica-read-only no\nhash-max-listpack-entries 300\n"
                        "port 7781\n\n# Generated by CONFIG REWRITE\n",
                        0),
              0u)
        << out;
    EXPECT_NE(out.find("\nmasterauth \"p \\\"w\\\"\"\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nrepl-backlog-size 64mb\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nrepl-diskless-load swapdb\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nmin-replicas-to-write 1\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("slave"), std::string::npos) << out;
    EXPECT_EQ(out.find("repl-timeout"), std::string::npos) << out;  // default

    // It loads back to the same values; rewriting again changes nothing.
    config_free(&cfg_);
    config_init_defaults(&cfg_);
    ASSERT_EQ(load_path(path.c_str(), {}), 0) << err_;
    EXPECT_EQ(get1("replicaof"), "10.0.0.9 7001");
    EXPECT_STREQ(cfg_.masterauth, "p \"w\"");
    EXPECT_EQ(cfg_.repl_backlog_size, 64LL << 20);
    EXPECT_EQ(cfg_.repl_diskless_load, REPL_DISKLESS_LOAD_SWAPDB);
    EXPECT_EQ(cfg_.min_replicas_to_write, 1);
    EXPECT_EQ(cfg_.replica_read_only, 0);
    EXPECT_EQ(cfg_.hash_max_listpack_entries, 300);
    ASSERT_EQ(config_rewrite(&cfg_, err_, sizeof err_), 0) << err_;
    EXPECT_EQ(slurp(path), out);

    // A master: the replicaof line goes; masterauth set back to none goes.
    free(cfg_.replicaof_host);
    cfg_.replicaof_host = nullptr;  // what REPLICAOF NO ONE leaves (not settable by CONFIG SET)
    ASSERT_EQ(config_apply_set(&cfg_, "masterauth", "", err_, sizeof err_), 0);
    ASSERT_EQ(config_rewrite(&cfg_, err_, sizeof err_), 0) << err_;
    out = slurp(path);
    EXPECT_EQ(out.find("replicaof"), std::string::npos) << out;
    EXPECT_EQ(out.find("masterauth"), std::string::npos) << out;
    config_free(&cfg_);
    config_init_defaults(&cfg_);
    ASSERT_EQ(load_path(path.c_str(), {}), 0) << err_;
    EXPECT_EQ(cfg_.replicaof_host, nullptr);
}

TEST_F(RewriteTest, NoConfigFile) {
    EXPECT_EQ(config_rewrite(&cfg_, err_, sizeof err_), -1);
    EXPECT_STREQ(err_, "ERR The server is running without a config file");
}

TEST(Log, FormatAndLevels) {
    char path[] = "/tmp/rk_logtest_XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    log_init(path, LL_NOTICE);
    rk_log(LL_DEBUG, "hidden %d", 1);
    rk_log(LL_NOTICE, "shown %d", 2);
    rk_log(LL_WARNING, "warn");
    log_set_level(LL_DEBUG);
    rk_log(LL_DEBUG, "dbg");
    rk_log(LL_VERBOSE, "verb");
    log_set_level(LL_NOTHING);
    rk_log(LL_WARNING, "never");
    log_raw_fd_write("raw\n");
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    ASSERT_EQ(lines.size(), 5u);
    std::string pid = std::to_string(getpid());
    // "<pid>:M dd Mon yyyy HH:MM:SS.mmm * shown 2"
    const std::string &l = lines[0];
    ASSERT_EQ(l.substr(0, pid.size() + 3), pid + ":M ");
    std::string rest = l.substr(pid.size() + 3);
    ASSERT_GE(rest.size(), 24u);
    EXPECT_EQ(rest[2], ' ');
    EXPECT_EQ(rest[6], ' ');
    EXPECT_EQ(rest[11], ' ');
    EXPECT_EQ(rest[14], ':');
    EXPECT_EQ(rest[17], ':');
    EXPECT_EQ(rest[20], '.');
    EXPECT_EQ(rest.substr(24), " * shown 2");
    EXPECT_NE(lines[1].find(" # warn"), std::string::npos);
    EXPECT_NE(lines[2].find(" . dbg"), std::string::npos);
    EXPECT_NE(lines[3].find(" - verb"), std::string::npos);
    EXPECT_EQ(lines[4], "raw");
    log_init("", LL_NOTICE);  // back to stdout for other tests
    unlink(path);
}

}  // namespace
