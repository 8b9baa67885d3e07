#pragma once

// The sites of a fuzzed round script (round_harness.h): each action the input picks is played by
// one of four sites over a MemoryConnection, and what the coordinator answers is tallied for the
// harness's invariants.

#include "coordinator/coordinator.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/memory_connection.h"

#include <boost/asio/io_context.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fedgan::testing {

/// What one site did and was told.
struct SiteState {
  std::shared_ptr<MemoryConnection> connection;
  // Earlier connections of the site, still open until the coordinator closes them.
  std::vector<std::shared_ptr<MemoryConnection>> earlier;
  std::optional<wire::Task> task;  // the latest task received
  int64_t verdicts_ok = 0;         // ACK_STAGE_VERDICT with STATUS_OK
  int64_t admission_answers = 0;   // ACK_STAGE_ADMISSION, admitted or refused
  // A NaN or infinity was sent since the last UpdateHeader: that upload must not be accepted.
  bool upload_tainted = false;
  bool non_finite_accepted = false;
};

class SiteBook {
 public:
  /// `io` and `coordinator` are owned by the caller and outlive the book.
  SiteBook(boost::asio::io_context& io, coordinator::Coordinator& coordinator);

  /// Plays the next action of the script.
  void act(FuzzInput& in);
  /// Takes what the coordinator sent since the last call and tallies it.
  void read_replies();
  /// Every site leaves.
  void leave_all();
  const std::map<std::string, SiteState>& sites() const { return sites_; }

 private:
  SiteState& site(FuzzInput& in);
  void connect(SiteState& site, const std::string& identity);
  void hello(SiteState& site, FuzzInput& in);
  void header(SiteState& site, FuzzInput& in, bool tamper);
  void chunks(SiteState& site, FuzzInput& in, size_t pattern, bool whole);
  void fuzzed_chunk(SiteState& site, FuzzInput& in);
  void transfer_end(SiteState& site);
  void stray(SiteState& site, FuzzInput& in);
  void deliver(SiteState& site, wire::Envelope message);

  boost::asio::io_context& io_;             // owned by the caller
  coordinator::Coordinator& coordinator_;   // owned by the caller
  std::map<std::string, SiteState> sites_;  // by identity
  bool trace_;  // FEDGAN_FUZZ_TRACE set: every action and reply on stderr
};

}  // namespace fedgan::testing
