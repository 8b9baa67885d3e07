#include "coordinator/history_command.h"

#include "coordinator/error.h"
#include "storage/database.h"
#include "storage/records.h"
#include "storage/run_store.h"
#include "storage/schema.h"

#include <gtest/gtest.h>

#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace fedgan::coordinator {
namespace {

namespace fs = std::filesystem;

// A private directory, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string name = (fs::temp_directory_path() / "fedgan-history-test-XXXXXX").string();
    path_ = mkdtemp(name.data());
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fs::path operator/(const fs::path& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// What Python prints for `expression` over `json` parsed as `d`; "<invalid JSON>" (and a test
// failure showing Python's complaint) when `json` does not parse.
std::string python(const ScratchDir& dir, const std::string& json, const std::string& expression) {
  const fs::path file = dir / "value.json";
  std::ofstream(file, std::ios::binary) << json;
  const std::string command =
      "PYTHONIOENCODING=utf-8 /usr/bin/python3 -c 'import json, sys; d = json.load(open("
      "sys.argv[1], encoding=\"utf-8\")); print((" +
      expression + "))' " + file.string() + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return "<no python>";
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  if (pclose(pipe) != 0) {
    ADD_FAILURE() << "python3 could not read the JSON: " << output << "\n" << json;
    return "<invalid JSON>";
  }
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

constexpr double kT0 = 1800000000;  // 2027-01-15 08:00:00 UTC
const std::string kSha(64, 'a');

storage::Update accepted(int64_t round_id, const std::string& client, double at, int64_t samples,
                         std::optional<std::string> metrics) {
  storage::Update u;
  u.round_id = round_id;
  u.client = client;
  u.received_at = at;
  u.accepted = true;
  u.num_samples = samples;
  u.delta_norm = 1.0;
  u.bytes_received = 1000;
  u.local_metrics_json = std::move(metrics);
  return u;
}

storage::Update rejected(int64_t round_id, const std::string& client, double at,
                         const std::string& reason, std::optional<std::string> metrics) {
  storage::Update u;
  u.round_id = round_id;
  u.client = client;
  u.received_at = at;
  u.reject_reason = reason;
  u.reject_message = "refused";
  u.local_metrics_json = std::move(metrics);
  return u;
}

storage::RoundCommit commit(double at, double norm, int64_t round) {
  storage::RoundCommit c;
  c.finished_at = at;
  c.aggregate_norm = norm;
  c.checkpoint_path = "/ckpt/round_00000" + std::to_string(round) + ".pt";
  c.checkpoint_sha256 = kSha;
  return c;
}

// Run "ring" (mlp, seed 7): round 1 fails once, then commits with an evaluation; round 2
// commits; round 3 is running. Seven clients, site-7 seen last.
fs::path populate(const ScratchDir& dir) {
  const fs::path path = dir / "fedgan.db";
  storage::Database db = storage::open_database(path.string());
  storage::RunStore store(db);
  store.create_or_resume_run({"ring", kT0, std::nullopt, 7, "mlp", "{}"});
  const auto r1a1 = store.begin_round("ring", 1, kT0 + 10, 3);
  store.record_update(accepted(r1a1.round_id, "site-1", kT0 + 100, 600,
                               R"({"generator_loss": 0.5, "discriminator_loss": 1.25})"));
  store.record_update(rejected(r1a1.round_id, "site-2", kT0 + 110, "NON_FINITE", std::nullopt));
  store.fail_round(r1a1.round_id, kT0 + 310, "deadline passed with 1 of 3 updates");

  const auto r1a2 = store.begin_round("ring", 1, kT0 + 400, 3);
  store.record_update(accepted(r1a2.round_id, "site-1", kT0 + 420, 400,
                               R"({"generator_loss": 0.75, "discriminator_loss": 1.0})"));
  const int64_t site2 =
      store.record_update(accepted(r1a2.round_id, "site-2", kT0 + 430, 600,
                                   R"({"generator_loss": 1.25, "discriminator_loss": 1.5})"));
  store.record_update(accepted(r1a2.round_id, "site-3", kT0 + 450, 200, std::nullopt));
  storage::RoundCommit c1 = commit(kT0 + 460.5, 0.8125, 1);
  // The robust rule left site-2's update out: one flagged round for site-2.
  c1.reviews = {{site2, 3.5, -0.25, 1.4, storage::RuleEffect::kExcluded, 0.0, true, std::nullopt}};
  c1.evaluation.modes_captured = 7;
  c1.evaluation.high_quality_fraction = 0.925;
  c1.evaluation.kl_to_uniform = 0.125;
  store.commit_round(r1a2.round_id, c1);

  const auto r2 = store.begin_round("ring", 2, kT0 + 500, 2);
  store.record_update(accepted(r2.round_id, "site-1", kT0 + 520, 500,
                               R"({"generator_loss": 0.25, "discriminator_loss": 0.5})"));
  store.record_update(
      rejected(r2.round_id, "site-2", kT0 + 525, "NORM_BOUND", R"({"generator_loss": 99})"));
  store.commit_round(r2.round_id, commit(kT0 + 530, 0.5, 2));

  store.begin_round("ring", 3, kT0 + 600, 2);
  for (const auto& [identity, seen] :
       std::vector<std::pair<std::string, double>>{{"site-4", kT0 + 100},
                                                   {"site-5", kT0 + 700},
                                                   {"site-6", kT0 + 50},
                                                   {"site-7", kT0 + 800}}) {
    store.touch_client(identity, seen);
  }
  return path;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

std::string history_text(const fs::path& db, bool json, std::optional<int64_t> last = {}) {
  std::ostringstream out;
  print_history(db, "ring", json, last, out);
  return out.str();
}

TEST(HistoryCommand, PrintsOneAlignedLinePerAttempt) {
  ScratchDir dir;
  const fs::path db = populate(dir);
  const std::vector<std::string> lines = lines_of(history_text(db, false));
  ASSERT_EQ(lines.size(), 5u) << history_text(db, false);
  const std::string& header = lines[0];
  for (const char* column :
       {"round", "attempt", "status", "started (UTC)", "seconds", "selected", "accepted",
        "rejected", "samples", "norm", "G loss", "D loss", "modes", "HQ %", "reason"}) {
    EXPECT_NE(header.find(column), std::string::npos) << column;
  }
  // The columns of images runs are left out when no line has them.
  EXPECT_EQ(header.find("FID"), std::string::npos);

  using Words = std::vector<std::string>;
  const auto first = [](const std::string& line, size_t n) {
    Words words = words_of(line);
    words.resize(std::min(words.size(), n));
    return words;
  };
  EXPECT_EQ(first(lines[1], 19),
            (Words{"1", "1", "failed", "2027-01-15", "08:00:10", "300.0", "3", "1", "1", "600", "-",
                   "0.5000", "1.2500", "-", "-", "deadline", "passed", "with", "1"}));
  EXPECT_EQ(first(lines[2], 16),
            (Words{"1", "2", "committed", "2027-01-15", "08:06:40", "60.5", "3", "3", "0", "1200",
                   "0.8125", "1.0000", "1.2500", "7", "92.5"}));
  // A rejected update's losses are not in the mean.
  EXPECT_EQ(first(lines[3], 16),
            (Words{"2", "1", "committed", "2027-01-15", "08:08:20", "30.0", "2", "1", "1", "500",
                   "0.5", "0.2500", "0.5000", "-", "-"}));
  EXPECT_EQ(first(lines[4], 16), (Words{"3", "1", "running", "2027-01-15", "08:10:00", "-", "2",
                                        "0", "0", "0", "-", "-", "-", "-", "-"}));

  // Left-aligned columns start, right-aligned ones end, at the same place on every line.
  const size_t started = header.find("started (UTC)");
  const size_t g_loss_end = header.find("G loss") + 6;
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].find("2027-01-15"), started) << lines[i];
    EXPECT_EQ(lines[i][g_loss_end - 1] != ' ' && lines[i][g_loss_end] == ' ', true) << lines[i];
  }
}

// history --clients: every client, most often flagged first, with its totals over all runs and
// its accepted updates, flags and mean cosine in the run shown (populate(): site-2's update of
// round 1 attempt 2 was excluded by the rule and flagged; no other update was reviewed).
TEST(HistoryCommand, TheClientsTableListsEveryClientMostFlaggedFirst) {
  ScratchDir dir;
  const fs::path db = populate(dir);
  std::ostringstream text;
  print_client_history(db, "ring", false, text);
  const std::vector<std::string> lines = lines_of(text.str());
  ASSERT_EQ(lines.size(), 9u) << text.str();  // a title, the header and seven clients
  EXPECT_EQ(lines[0], "clients, most often flagged first; \"in run\" is run 'ring'");
  using Words = std::vector<std::string>;
  EXPECT_EQ(words_of(lines[1]),
            (Words{"identity", "first", "seen", "(UTC)", "last", "seen", "(UTC)", "accepted",
                   "rejected", "samples", "flagged", "rounds", "in", "run", "flagged", "in", "run",
                   "mean", "cosine"}));
  // Every client with every value: site-2 (one flagged round) first, then by identity. Totals
  // over all runs; "in run" counts accepted updates of every attempt, the failed one included;
  // only site-2's update was reviewed, so only it has a cosine.
  const std::vector<Words> expected = {{"site-2", "2027-01-15", "08:01:50", "2027-01-15",
                                        "08:08:45", "1", "2", "600", "1", "1", "1", "-0.250"},
                                       {"site-1", "2027-01-15", "08:01:40", "2027-01-15",
                                        "08:08:40", "3", "0", "1500", "0", "3", "0", "-"},
                                       {"site-3", "2027-01-15", "08:07:30", "2027-01-15",
                                        "08:07:30", "1", "0", "200", "0", "1", "0", "-"},
                                       {"site-4", "2027-01-15", "08:01:40", "2027-01-15",
                                        "08:01:40", "0", "0", "0", "0", "0", "0", "-"},
                                       {"site-5", "2027-01-15", "08:11:40", "2027-01-15",
                                        "08:11:40", "0", "0", "0", "0", "0", "0", "-"},
                                       {"site-6", "2027-01-15", "08:00:50", "2027-01-15",
                                        "08:00:50", "0", "0", "0", "0", "0", "0", "-"},
                                       {"site-7", "2027-01-15", "08:13:20", "2027-01-15",
                                        "08:13:20", "0", "0", "0", "0", "0", "0", "-"}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(words_of(lines[i + 2]), expected[i]) << lines[i + 2];
  }
  // Numbers are right-aligned: every "samples" cell ends where its header does.
  const size_t samples_end = lines[1].find("samples") + 7;
  for (size_t i = 2; i < lines.size(); ++i) {
    EXPECT_TRUE(lines[i][samples_end - 1] != ' ' && lines[i][samples_end] == ' ') << lines[i];
  }

  // The JSON carries the same values, in the same order, every key in every object.
  std::ostringstream json;
  print_client_history(db, "ring", true, json);
  EXPECT_EQ(python(dir, json.str(), "list(d[0].keys()), len(set(len(c) for c in d))"),
            "(['identity', 'first_seen_utc', 'last_seen_utc', 'updates_accepted', "
            "'updates_rejected', 'samples_accepted', 'flagged_rounds', 'run_updates_accepted', "
            "'run_updates_flagged', 'run_mean_cosine'], 1)");
  EXPECT_EQ(python(dir, json.str(),
                   "[(c[\"identity\"], c[\"first_seen_utc\"], c[\"last_seen_utc\"]) for c in d]"),
            "[('site-2', '2027-01-15T08:01:50Z', '2027-01-15T08:08:45Z'), "
            "('site-1', '2027-01-15T08:01:40Z', '2027-01-15T08:08:40Z'), "
            "('site-3', '2027-01-15T08:07:30Z', '2027-01-15T08:07:30Z'), "
            "('site-4', '2027-01-15T08:01:40Z', '2027-01-15T08:01:40Z'), "
            "('site-5', '2027-01-15T08:11:40Z', '2027-01-15T08:11:40Z'), "
            "('site-6', '2027-01-15T08:00:50Z', '2027-01-15T08:00:50Z'), "
            "('site-7', '2027-01-15T08:13:20Z', '2027-01-15T08:13:20Z')]");
  EXPECT_EQ(python(dir, json.str(),
                   "[(c[\"updates_accepted\"], c[\"updates_rejected\"], c[\"samples_accepted\"], "
                   "c[\"flagged_rounds\"], c[\"run_updates_accepted\"], "
                   "c[\"run_updates_flagged\"], c[\"run_mean_cosine\"]) for c in d]"),
            "[(1, 2, 600, 1, 1, 1, -0.25), (3, 0, 1500, 0, 3, 0, None), "
            "(1, 0, 200, 0, 1, 0, None), (0, 0, 0, 0, 0, 0, None), (0, 0, 0, 0, 0, 0, None), "
            "(0, 0, 0, 0, 0, 0, None), (0, 0, 0, 0, 0, 0, None)]");
}

TEST(HistoryCommand, TheClientsTableOfAnEmptyDatabaseSaysSo) {
  ScratchDir dir;
  const fs::path path = dir / "fedgan.db";
  {
    auto db = storage::open_database(path.string());
    storage::RunStore(db).create_or_resume_run({"empty", kT0, std::nullopt, 1, "mlp", "{}"});
  }
  std::ostringstream out;
  print_client_history(path, "empty", false, out);
  EXPECT_EQ(out.str(), "no client has connected yet\n");
  std::ostringstream json;
  print_client_history(path, "empty", true, json);
  EXPECT_EQ(json.str(), "[]\n");
  EXPECT_THROW(print_client_history(path, "other", false, out), CoordinatorError);
}

TEST(HistoryCommand, JsonCarriesTheSameValues) {
  ScratchDir dir;
  const fs::path db = populate(dir);
  const std::string json = history_text(db, true);
  EXPECT_EQ(python(dir, json, "len(d)"), "4");
  EXPECT_EQ(python(dir, json, "[(r[\"round\"], r[\"attempt\"], r[\"status\"]) for r in d]"),
            "[(1, 1, 'failed'), (1, 2, 'committed'), (2, 1, 'committed'), (3, 1, 'running')]");
  EXPECT_EQ(python(dir, json, "[r[\"generator_loss\"] for r in d]"), "[0.5, 1.0, 0.25, None]");
  EXPECT_EQ(python(dir, json, "[r[\"discriminator_loss\"] for r in d]"), "[1.25, 1.25, 0.5, None]");
  EXPECT_EQ(python(dir, json, "[r[\"duration_seconds\"] for r in d]"), "[300.0, 60.5, 30.0, None]");
  EXPECT_EQ(python(dir, json, "d[1][\"started_utc\"], d[1][\"started_at\"]"),
            "('2027-01-15T08:06:40Z', 1800000400.0)");
  EXPECT_EQ(python(dir, json,
                   "[(r[\"clients_selected\"], r[\"updates_accepted\"], r[\"updates_rejected\"], "
                   "r[\"samples_accepted\"]) for r in d]"),
            "[(3, 1, 1, 600), (3, 3, 0, 1200), (2, 1, 1, 500), (2, 0, 0, 0)]");
  EXPECT_EQ(python(dir, json,
                   "d[1][\"aggregate_norm\"], d[1][\"modes_captured\"], "
                   "d[1][\"high_quality_fraction\"], d[1][\"kl_to_uniform\"], d[1][\"fid\"]"),
            "(0.8125, 7, 0.925, 0.125, None)");
  EXPECT_EQ(python(dir, json, "d[0][\"failure_reason\"], d[0][\"checkpoint_path\"]"),
            "('deadline passed with 1 of 3 updates', None)");
  EXPECT_EQ(python(dir, json, "d[2][\"checkpoint_path\"]"), "/ckpt/round_000002.pt");
  // Every object has every field, null included.
  EXPECT_EQ(python(dir, json, "len(set(len(r) for r in d)), len(d[0])"), "(1, 21)");
}

TEST(HistoryCommand, LastKeepsTheLastAttempts) {
  ScratchDir dir;
  const fs::path db = populate(dir);
  const std::vector<std::string> lines = lines_of(history_text(db, false, 2));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(words_of(lines[1])[0], "2");
  EXPECT_EQ(words_of(lines[2])[0], "3");
  EXPECT_EQ(python(dir, history_text(db, true, 1), "[r[\"round\"] for r in d]"), "[3]");
  EXPECT_EQ(python(dir, history_text(db, true, 100), "len(d)"), "4");
}

TEST(HistoryCommand, ImageRunsShowFidAndClasses) {
  ScratchDir dir;
  const fs::path path = dir / "images.db";
  {
    storage::Database db = storage::open_database(path.string());
    storage::RunStore store(db);
    store.create_or_resume_run({"ring", kT0, std::nullopt, 1, "dcgan", "{}"});
    const auto r = store.begin_round("ring", 0, kT0, 1);
    store.record_update(accepted(r.round_id, "site-1", kT0 + 1, 10, "{}"));
    storage::RoundCommit c = commit(kT0 + 2, 1.5, 0);
    c.evaluation.fid = 42.25;
    c.evaluation.classes_covered = 9;
    store.commit_round(r.round_id, c);
  }
  const std::vector<std::string> lines = lines_of(history_text(path, false));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("FID"), std::string::npos);
  EXPECT_NE(lines[0].find("classes"), std::string::npos);
  EXPECT_EQ(lines[0].find("modes"), std::string::npos);
  EXPECT_EQ(lines[0].find("reason"), std::string::npos);
  const std::vector<std::string> words = words_of(lines[1]);
  ASSERT_EQ(words.size(), 15u) << lines[1];
  EXPECT_EQ(words[13], "42.25");
  EXPECT_EQ(words[14], "9");
  EXPECT_EQ(words[11], "-");  // no losses reported
}

TEST(HistoryCommand, MissingDatabaseAndUnknownRunAreExplained) {
  ScratchDir dir;
  const fs::path missing = dir / "nowhere.db";
  std::ostringstream out;
  try {
    print_history(missing, "ring", false, std::nullopt, out);
    ADD_FAILURE() << "no error";
  } catch (const CoordinatorError& error) {
    EXPECT_EQ(std::string(error.what()),
              "no database at " + missing.string() + ": has the coordinator run?");
  }
  EXPECT_FALSE(fs::exists(missing));  // read-only: nothing created
  EXPECT_THROW(print_status(missing, "ring", true, out), CoordinatorError);

  const fs::path db = populate(dir);
  try {
    print_history(db, "other", false, std::nullopt, out);
    ADD_FAILURE() << "no error";
  } catch (const CoordinatorError& error) {
    EXPECT_NE(std::string(error.what()).find("no run 'other'"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("runs there: 'ring'"), std::string::npos);
  }
  EXPECT_THROW(print_status(db, "other", false, out), CoordinatorError);
}

TEST(StatusCommand, ShowsTheRunItsRoundsAndRecentClients) {
  ScratchDir dir;
  const fs::path db = populate(dir);
  std::ostringstream out;
  print_status(db, "ring", false, out);
  const std::string text = out.str();
  const auto has = [&](const std::string& part) {
    EXPECT_NE(text.find(part), std::string::npos) << part << "\n" << text;
  };
  has("run            ring (model mlp, seed 7)\n");
  has("created        2027-01-15 08:00:00 UTC\n");
  has("finished       no\n");
  has("rounds         2 committed; 4 attempts, 1 failed, 0 aborted\n");
  has("last committed round 2 (attempt 1) at 2027-01-15 08:08:50 UTC\n");
  has("checkpoint     /ckpt/round_000002.pt\n");
  has("sha256         " + kSha + "\n");
  has("running        round 3 (attempt 1) since 2027-01-15 08:10:00 UTC: 2 selected, 0 accepted, "
      "0 rejected\n");
  has("clients        7 known; seen most recently:\n");
  const std::vector<std::string> lines = lines_of(text);
  const auto table = std::find_if(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("identity") != l.npos;
  });
  ASSERT_NE(table, lines.end());
  ASSERT_EQ(lines.end() - table, 6);  // header and five clients
  using Words = std::vector<std::string>;
  EXPECT_EQ(words_of(table[1]), (Words{"site-7", "2027-01-15", "08:13:20", "0", "0", "0"}));
  EXPECT_EQ(words_of(table[2])[0], "site-5");
  EXPECT_EQ(words_of(table[3]), (Words{"site-2", "2027-01-15", "08:08:45", "1", "2", "1"}));
  EXPECT_EQ(words_of(table[4]), (Words{"site-1", "2027-01-15", "08:08:40", "3", "0", "0"}));
  EXPECT_EQ(words_of(table[5])[0], "site-3");
}

TEST(StatusCommand, JsonCarriesTheSameValues) {
  ScratchDir dir;
  const fs::path db = populate(dir);
  std::ostringstream out;
  print_status(db, "ring", true, out);
  const std::string json = out.str();
  EXPECT_EQ(python(dir, json, "d[\"run_id\"], d[\"model\"], d[\"seed\"], d[\"finished\"]"),
            "('ring', 'mlp', 7, False)");
  EXPECT_EQ(python(dir, json, "d[\"created_utc\"], d[\"finished_at\"]"),
            "('2027-01-15T08:00:00Z', None)");
  EXPECT_EQ(python(dir, json,
                   "d[\"rounds_committed\"], d[\"attempts\"], d[\"attempts_failed\"], "
                   "d[\"attempts_aborted\"]"),
            "(2, 4, 1, 0)");
  EXPECT_EQ(python(dir, json,
                   "d[\"last_committed\"][\"round\"], d[\"last_committed\"][\"checkpoint_path\"], "
                   "len(d[\"last_committed\"][\"checkpoint_sha256\"])"),
            "(2, '/ckpt/round_000002.pt', 64)");
  EXPECT_EQ(python(dir, json,
                   "d[\"running\"][\"round\"], d[\"running\"][\"attempt\"], "
                   "d[\"running\"][\"clients_selected\"]"),
            "(3, 1, 2)");
  EXPECT_EQ(
      python(dir, json, "d[\"clients_known\"], [c[\"identity\"] for c in d[\"recent_clients\"]]"),
      "(7, ['site-7', 'site-5', 'site-2', 'site-1', 'site-3'])");
  EXPECT_EQ(python(dir, json,
                   "[(c[\"updates_accepted\"], c[\"updates_rejected\"], c[\"flagged_rounds\"]) "
                   "for c in d[\"recent_clients\"]]"),
            "[(0, 0, 0), (0, 0, 0), (1, 2, 1), (3, 0, 0), (1, 0, 0)]");
}

TEST(StatusCommand, AFinishedRunWithoutRoundsOrClients) {
  ScratchDir dir;
  const fs::path path = dir / "fedgan.db";
  {
    storage::Database db = storage::open_database(path.string());
    storage::RunStore store(db);
    store.create_or_resume_run({"empty", kT0, std::nullopt, 3, "dcgan", "{}"});
    store.finish_run("empty", kT0 + 60);
  }
  std::ostringstream text, json;
  print_status(path, "empty", false, text);
  EXPECT_NE(text.str().find("finished       2027-01-15 08:01:00 UTC\n"), std::string::npos);
  EXPECT_NE(text.str().find("last committed none\n"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("running        no attempt\n"), std::string::npos);
  EXPECT_NE(text.str().find("clients        0 known\n"), std::string::npos);
  print_status(path, "empty", true, json);
  EXPECT_EQ(python(dir, json.str(),
                   "d[\"finished\"], d[\"finished_utc\"], d[\"last_committed\"], d[\"running\"], "
                   "d[\"recent_clients\"]"),
            "(True, '2027-01-15T08:01:00Z', None, None, [])");
  std::ostringstream history;
  print_history(path, "empty", false, std::nullopt, history);
  EXPECT_EQ(history.str(), "run 'empty' has no rounds yet\n");
  std::ostringstream history_json;
  print_history(path, "empty", true, std::nullopt, history_json);
  EXPECT_EQ(history_json.str(), "[]\n");
}

}  // namespace
}  // namespace fedgan::coordinator
