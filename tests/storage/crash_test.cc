// Crash safety end to end: a process running rounds (crash_writer_main.cc) is killed with SIGKILL
// at random moments and restarted; after every kill the database must be sound and hold every
// round the process reported committed, and the restarted process must resume from it.
#include "storage/history.h"
#include "storage/schema.h"
#include "tests/storage/test_util.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace fedgan::storage {
namespace {

constexpr int kKills = 6;

// One run of the writer with its stdout on a pipe.
class Writer {
 public:
  Writer(const std::string& db, const std::string& checkpoints, int64_t last_round) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    const std::string rounds = std::to_string(last_round);
    std::vector<char*> argv = {
        const_cast<char*>(FEDGAN_STORAGE_CRASH_WRITER), const_cast<char*>(db.c_str()),
        const_cast<char*>(checkpoints.c_str()), const_cast<char*>(rounds.c_str()), nullptr};
    const int rc =
        posix_spawn(&pid_, FEDGAN_STORAGE_CRASH_WRITER, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) throw std::runtime_error("cannot start " FEDGAN_STORAGE_CRASH_WRITER);
    out_ = fdopen(fds[0], "r");
  }
  ~Writer() {
    if (out_) fclose(out_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // The next line the writer printed, or "" at end of output.
  std::string next_line() {
    char* line = nullptr;
    size_t capacity = 0;
    const ssize_t length = getline(&line, &capacity, out_);
    std::string text = length > 0 ? std::string(line, static_cast<size_t>(length) - 1) : "";
    free(line);
    return text;
  }

  // Sends SIGKILL (unless the writer already ended) and returns its wait status.
  int kill_and_wait() {
    kill(pid_, SIGKILL);
    return wait();
  }
  int wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

int64_t committed_in(const std::string& line) {
  return line.rfind("committed ", 0) == 0 ? std::stoll(line.substr(10)) : -1;
}

TEST(CrashSafety, SigkillAtRandomMomentsLosesNoCommittedRound) {
  testing::TempDir dir;
  const std::string db_path = (dir / "fedgan.db").string();
  const std::string checkpoints = (dir / "checkpoints").string();
  std::mt19937 random(20261122);
  std::uniform_int_distribution<int> delay_us(0, 30000);
  int64_t reported = 0;  // highest round a writer said it committed
  for (int kill = 0; kill < kKills; ++kill) {
    SCOPED_TRACE(fmt::format("kill {}", kill));
    Writer writer(db_path, checkpoints, 100000);
    const std::string resumed = writer.next_line();
    ASSERT_EQ(resumed.rfind("resumed ", 0), 0u) << "the writer did not start: '" << resumed << "'";
    EXPECT_GE(std::stoll(resumed.substr(8)), reported);  // resumes at or after what it reported
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(random)));
    const int status = writer.kill_and_wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (std::string line = writer.next_line(); !line.empty(); line = writer.next_line()) {
      reported = std::max(reported, committed_in(line));
    }

    Database db = open_database(db_path);
    EXPECT_EQ(testing::integrity_check(db), "ok");
    const int64_t committed =
        db.query_int("SELECT count(*) FROM rounds WHERE run_id = 'crash' AND status = 'committed'");
    const int64_t last = db.query_int(
        "SELECT coalesce(max(round), 0) FROM rounds WHERE run_id = 'crash' AND status = "
        "'committed'");
    EXPECT_GE(last, reported);
    EXPECT_EQ(committed, last) << "committed rounds are not exactly 1.." << last;
    EXPECT_LE(db.query_int("SELECT count(*) FROM rounds WHERE status = 'running'"), 1);
  }

  // A last, uninterrupted run resumes and finishes; every interrupted attempt is recorded.
  Database db = open_database(db_path);
  const int64_t last = History(db).last_committed_round("crash").value_or(Round{}).round;
  Writer writer(db_path, checkpoints, last + 3);
  const std::string resumed = writer.next_line();
  EXPECT_EQ(resumed.rfind(fmt::format("resumed {} ", last), 0), 0u) << resumed;
  while (!writer.next_line().empty()) {
  }
  const int status = writer.wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the final run failed";
  EXPECT_EQ(testing::integrity_check(db), "ok");
  EXPECT_EQ(db.query_int("SELECT count(*) FROM rounds WHERE status = 'committed'"), last + 3);
  EXPECT_EQ(db.query_int("SELECT count(*) FROM rounds WHERE status = 'running'"), 0);
  EXPECT_EQ(db.query_int("SELECT count(*) FROM rounds WHERE status = 'aborted'"),
            db.query_int("SELECT count(*) FROM events WHERE kind = 'round_aborted'"));
  // Every aborted attempt's round was committed later by another attempt.
  EXPECT_EQ(db.query_int("SELECT count(*) FROM rounds a WHERE status = 'aborted' AND NOT EXISTS "
                         "(SELECT 1 FROM rounds c WHERE c.round = a.round AND c.status = "
                         "'committed' AND c.attempt > a.attempt)"),
            0);
  // Retention ran throughout: left are the two newest checkpoints and every fifth round's.
  const int64_t final_round = last + 3;
  std::set<std::string> expected = {fmt::format("round_{:06d}.pt", final_round - 1),
                                    fmt::format("round_{:06d}.pt", final_round)};
  for (int64_t round = 5; round <= final_round; round += 5) {
    expected.insert(fmt::format("round_{:06d}.pt", round));
  }
  std::set<std::string> present;
  for (const auto& entry : std::filesystem::directory_iterator(checkpoints)) {
    present.insert(entry.path().filename().string());
  }
  EXPECT_EQ(present, expected);
}

}  // namespace
}  // namespace fedgan::storage
