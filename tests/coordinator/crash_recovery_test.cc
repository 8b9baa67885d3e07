// Crash safety of the real fedgan-coordinator process: it is killed with SIGKILL while waiting for
// clients, right after sending a round's tasks, with half the round's updates accepted, and right
// after a commit. After every restart the database passes PRAGMA integrity_check, the round that
// was running is recorded as aborted and run again, no committed round is lost, and the run ends
// with rounds 1..3 committed exactly once.

#include "storage/checkpoint_store.h"
#include "storage/history.h"
#include "storage/schema.h"
#include "tests/coordinator/fake_client.h"
#include "tests/coordinator/round_test_support.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>

extern char** environ;

namespace fedgan::coordinator::testing {
namespace {

using namespace std::chrono_literals;
using protocol::testing::IoThread;
using protocol::testing::test_pki;

// fedgan-coordinator serve, with its stdout on a pipe read line by line.
class CoordinatorProcess {
 public:
  explicit CoordinatorProcess(const std::vector<std::string>& arguments) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> argv = {const_cast<char*>(FEDGAN_COORDINATOR_BINARY)};
    for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    const int rc =
        posix_spawn(&pid_, FEDGAN_COORDINATOR_BINARY, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) throw std::runtime_error("cannot start " FEDGAN_COORDINATOR_BINARY);
    fd_ = fds[0];
  }
  ~CoordinatorProcess() {
    kill_now();
    close(fd_);
  }

  /// Reads lines until one matches `pattern` (returned) or `timeout` passes ("").
  std::string wait_for(const std::string& pattern, std::chrono::milliseconds timeout = 30s) {
    const std::regex wanted(pattern);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      size_t newline;
      while ((newline = buffer_.find('\n')) != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        output_ += line + "\n";
        if (std::regex_search(line, wanted)) return line;
      }
      pollfd ready{fd_, POLLIN, 0};
      if (poll(&ready, 1, 100) <= 0) continue;
      char bytes[4096];
      const ssize_t got = read(fd_, bytes, sizeof bytes);
      if (got <= 0) break;
      buffer_.append(bytes, static_cast<size_t>(got));
    }
    ADD_FAILURE() << "no line matching '" << pattern << "'; output so far:\n" << output_;
    return "";
  }

  uint16_t wait_port() {
    const auto line = wait_for("listening on 127\\.0\\.0\\.1:[0-9]+");
    const auto colon = line.rfind(':');
    return colon == std::string::npos ? 0
                                      : static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
  }

  void kill_now() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  /// Waits for a normal exit; returns the exit code (-1 on timeout or a signal).
  int wait_exit(std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
  std::string output_;
};

std::vector<std::string> serve_arguments(const CoordinatorOptions& o) {
  return {"serve",
          "--server.port",
          "0",
          "--tls.ca_file",
          o.tls.ca_file.string(),
          "--tls.certificate_file",
          o.tls.certificate_file.string(),
          "--tls.private_key_file",
          o.tls.private_key_file.string(),
          "--rounds.min_clients",
          "2",
          "--rounds.max_rounds",
          "3",
          "--rounds.deadline_seconds",
          "60",
          "--model.architecture",
          "mlp",
          "--storage.database",
          o.storage.database.string(),
          "--storage.checkpoint_dir",
          o.storage.checkpoint_dir.string(),
          "--storage.run_id",
          o.storage.run_id};
}

void expect_integrity(const CoordinatorOptions& options) {
  auto db = storage::open_database(options.storage.database.string(), {5000, true});
  EXPECT_EQ(db.query_text("PRAGMA integrity_check"), "ok");
}

std::vector<std::string> statuses(const CoordinatorOptions& options) {
  std::vector<std::string> result;
  for (const auto& round : rounds_of(options)) {
    result.push_back(
        fmt::format("{}.{}:{}", round.round, round.attempt, storage::to_string(round.status)));
  }
  return result;
}

Upload small_delta(const ReceivedTask& task, float scale) {
  return {make_delta(task, [scale](size_t t, size_t i) { return wave(t, i, scale); })};
}

TEST(CrashRecovery, SigkillAtEveryStageOfARoundLosesNoCommittedRound) {
  TempDir dir;
  const auto options = test_options(dir.path());
  const auto arguments = serve_arguments(options);
  IoThread io;

  {  // 1. Killed while waiting for clients: nothing to lose.
    CoordinatorProcess coordinator(arguments);
    ASSERT_NE(coordinator.wait_port(), 0);
    coordinator.kill_now();
  }
  expect_integrity(options);
  EXPECT_TRUE(statuses(options).empty());

  {  // 2. Killed right after the tasks of round 1 went out.
    CoordinatorProcess coordinator(arguments);
    const uint16_t port = coordinator.wait_port();
    FakeClient a(io.io(), "site-1", port);
    FakeClient b(io.io(), "site-2", port);
    coordinator.wait_for("round 1 attempt 1");
    coordinator.kill_now();
  }
  expect_integrity(options);
  EXPECT_EQ(statuses(options), std::vector<std::string>{"1.1:running"});

  {  // 3. Restart: attempt 1 is aborted; killed with one of two updates of attempt 2 accepted.
    CoordinatorProcess coordinator(arguments);
    coordinator.wait_for("round 1 attempt 1 was running when the coordinator stopped");
    const uint16_t port = coordinator.wait_port();
    FakeClient a(io.io(), "site-1", port);
    FakeClient b(io.io(), "site-2", port);
    auto task = a.wait_task();
    ASSERT_TRUE(task && b.wait_task());
    EXPECT_EQ(task->task.round(), 1u);
    EXPECT_EQ(a.upload(*task, small_delta(*task, 1.0f)).code(), wire::STATUS_OK);
    coordinator.kill_now();
  }
  expect_integrity(options);
  EXPECT_EQ(statuses(options), (std::vector<std::string>{"1.1:aborted", "1.2:running"}));

  {  // 4. Round 1 runs again and commits; killed right after the commit.
    CoordinatorProcess coordinator(arguments);
    const uint16_t port = coordinator.wait_port();
    FakeClient a(io.io(), "site-1", port);
    FakeClient b(io.io(), "site-2", port);
    auto ta = a.wait_task();
    auto tb = b.wait_task();
    ASSERT_TRUE(ta && tb);
    EXPECT_EQ(a.upload(*ta, small_delta(*ta, 1.0f)).code(), wire::STATUS_OK);
    EXPECT_EQ(b.upload(*tb, small_delta(*tb, -1.0f)).code(), wire::STATUS_OK);
    coordinator.wait_for("round 1 committed");
    coordinator.kill_now();
  }
  expect_integrity(options);
  {
    // Round 2 may have started before the kill; it is then aborted and rerun like any other.
    const auto after_commit = statuses(options);
    ASSERT_GE(after_commit.size(), 3u);
    EXPECT_EQ(after_commit[2], "1.3:committed");
  }

  {  // 5. Resumes after round 1 and finishes rounds 2 and 3.
    CoordinatorProcess coordinator(arguments);
    coordinator.wait_for("resumed after round 1");
    const uint16_t port = coordinator.wait_port();
    FakeClient a(io.io(), "site-1", port);
    FakeClient b(io.io(), "site-2", port);
    for (uint64_t round = 2; round <= 3; ++round) {
      auto ta = a.wait_task();
      auto tb = b.wait_task();
      ASSERT_TRUE(ta && tb);
      EXPECT_EQ(ta->task.round(), round);
      EXPECT_EQ(a.upload(*ta, small_delta(*ta, 0.5f)).code(), wire::STATUS_OK);
      EXPECT_EQ(b.upload(*tb, small_delta(*tb, 0.25f)).code(), wire::STATUS_OK);
    }
    EXPECT_EQ(coordinator.wait_exit(), 0);
  }
  expect_integrity(options);
  const auto rounds = rounds_of(options);
  std::vector<int64_t> committed;
  for (const auto& round : rounds) {
    if (storage::to_string(round.status) != "committed") continue;
    committed.push_back(round.round);
    // Every committed round's checkpoint is there and matches its recorded hash (retention keeps
    // the last three).
    EXPECT_NO_THROW(
        storage::CheckpointStore::load(*round.checkpoint_path, *round.checkpoint_sha256));
  }
  EXPECT_EQ(committed, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(statuses(options)[0], "1.1:aborted");
  EXPECT_EQ(statuses(options)[1], "1.2:aborted");
}

}  // namespace
}  // namespace fedgan::coordinator::testing
