#include "storage/database.h"

#include "storage/error.h"

#include <sqlite3.h>

#include <cmath>
#include <string>

namespace fedgan::storage {
namespace {

// Longest SQL text quoted in an error message; the statement's start identifies it.
constexpr size_t kMaxQuotedSql = 160;

// The statement on one line and shortened, for error messages.
std::string quote_sql(std::string_view sql) {
  std::string out;
  for (char c : sql) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out.push_back(space ? ' ' : c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > kMaxQuotedSql) out = out.substr(0, kMaxQuotedSql) + "...";
  return out;
}

std::string database_name(sqlite3* db) {
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  return (file && *file) ? file : "(in-memory database)";
}

// The error SQLite reports on `db` for `sql`, e.g. `CHECK constraint failed: ... (SQLite error
// 275) in "INSERT INTO ..." on /srv/fedgan.db`.
StorageError sqlite_error(sqlite3* db, int rc, std::string_view sql) {
  const int code = db ? sqlite3_extended_errcode(db) : rc;
  const char* message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return StorageError(fmt::format("{} (SQLite error {}) in \"{}\" on {}", message, code,
                                  quote_sql(sql), database_name(db)),
                      code);
}

[[noreturn]] void throw_sqlite(sqlite3* db, int rc, std::string_view sql) {
  throw sqlite_error(db, rc, sql);
}

void check_rc(sqlite3* db, int rc, std::string_view sql) {
  if (rc != SQLITE_OK) throw_sqlite(db, rc, sql);
}

}  // namespace

// ---- Database ----

void Database::Closer::operator()(sqlite3* db) const noexcept {
  // close_v2 defers the close until the last statement is finalized instead of failing.
  sqlite3_close_v2(db);
}

Database::Database(const std::string& path, const DatabaseOptions& options) : path_(path) {
  const int flags =
      options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  db_.reset(raw);  // a handle is returned even on failure and must be closed
  if (rc != SQLITE_OK) {
    throw StorageError(fmt::format("cannot open database {}: {}", path,
                                   raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)),
                       rc);
  }
  sqlite3_extended_result_codes(raw, 1);
  configure(options);
}

void Database::configure(const DatabaseOptions& options) {
  check_rc(db_.get(), sqlite3_busy_timeout(db_.get(), options.busy_timeout_ms), "busy_timeout");
  // The first statement reads the file header: a file that is not a database fails here, with
  // SQLite's "file is not a database" message.
  execute("PRAGMA foreign_keys=ON");
  check(query_int("PRAGMA foreign_keys") == 1,
        "database {}: this SQLite library cannot enforce foreign keys", path_);
  if (options.read_only) return;
  const bool in_memory = path_.empty() || path_ == ":memory:";
  const std::string mode = query_text("PRAGMA journal_mode=WAL");
  check(in_memory || mode == "wal",
        "database {}: cannot switch to WAL journal mode (got '{}'); WAL needs a local file system "
        "with shared-memory support",
        path_, mode);
  execute("PRAGMA synchronous=FULL");
}

void Database::execute(std::string_view sql) {
  const std::string text(sql);
  check_rc(db_.get(), sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, nullptr), sql);
}

Statement Database::prepare(std::string_view sql) {
  return Statement(db_.get(), sql);
}

std::string Database::query_text(std::string_view sql) {
  Statement statement = prepare(sql);
  if (!statement.step() || statement.is_null(0)) return {};
  return statement.column<std::string>(0);
}

int64_t Database::query_int(std::string_view sql) {
  Statement statement = prepare(sql);
  if (!statement.step()) return 0;
  return statement.column<int64_t>(0);
}

int64_t Database::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_.get());
}

int64_t Database::changes() const {
  return sqlite3_changes64(db_.get());
}

bool Database::in_transaction() const {
  return sqlite3_get_autocommit(db_.get()) == 0;
}

// ---- Statement ----

void Statement::Finalizer::operator()(sqlite3_stmt* statement) const noexcept {
  sqlite3_finalize(statement);
}

Statement::Statement(sqlite3* db, std::string_view sql) : sql_(sql) {
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  check_rc(db, sqlite3_prepare_v2(db, sql_.data(), static_cast<int>(sql_.size()), &raw, &tail),
           sql_);
  statement_.reset(raw);
  check(raw != nullptr, "no SQL statement in \"{}\"", quote_sql(sql_));
  // A second statement after the first would be silently ignored by prepare; refuse it.
  for (; tail && *tail; ++tail) {
    check(*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';',
          "more than one SQL statement in \"{}\"; use Database::execute", quote_sql(sql_));
  }
}

void Statement::bind_null(int index) {
  check_rc(sqlite3_db_handle(statement_.get()), sqlite3_bind_null(statement_.get(), index), sql_);
}

void Statement::bind_int64(int index, int64_t value) {
  check_rc(sqlite3_db_handle(statement_.get()), sqlite3_bind_int64(statement_.get(), index, value),
           sql_);
}

void Statement::bind_double(int index, double value) {
  if (std::isnan(value)) return bind_null(index);
  check_rc(sqlite3_db_handle(statement_.get()), sqlite3_bind_double(statement_.get(), index, value),
           sql_);
}

void Statement::bind_text(int index, std::string_view value) {
  check_rc(sqlite3_db_handle(statement_.get()),
           sqlite3_bind_text64(statement_.get(), index, value.data(), value.size(),
                               SQLITE_TRANSIENT, SQLITE_UTF8),
           sql_);
}

bool Statement::step() {
  const int rc = sqlite3_step(statement_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  StorageError error = sqlite_error(sqlite3_db_handle(statement_.get()), rc, sql_);
  sqlite3_reset(statement_.get());  // leaves the statement reusable
  throw error;
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(statement_.get());
  sqlite3_clear_bindings(statement_.get());
}

int Statement::column_count() const {
  return sqlite3_column_count(statement_.get());
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(statement_.get(), column) == SQLITE_NULL;
}

int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(statement_.get(), column);
}

double Statement::column_double(int column) const {
  return sqlite3_column_double(statement_.get(), column);
}

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(statement_.get(), column);
  const int size = sqlite3_column_bytes(statement_.get(), column);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size))
              : std::string();
}

// ---- Transaction ----

// Savepoint names nest like a stack, so one name serves every nesting depth.
constexpr const char* kSavepoint = "fedgan_nested";

Transaction::Transaction(Database& db, Durability durability)
    : db_(db),
      nested_(db.in_transaction()),
      deferred_(!nested_ && durability == Durability::kDeferred) {
  // SQLite refuses to change the safety level inside a transaction: set it before BEGIN.
  if (deferred_) db_.execute("PRAGMA synchronous=NORMAL");
  try {
    db_.execute(nested_ ? fmt::format("SAVEPOINT {}", kSavepoint) : "BEGIN IMMEDIATE");
  } catch (const StorageError&) {
    restore_synchronous();
    throw;
  }
}

Transaction::~Transaction() {
  if (done_) return;
  // After some errors (SQLITE_FULL, SQLITE_IOERR) SQLite has already rolled the transaction back;
  // a second rollback would only fail. A failure here is not reported: the transaction is
  // abandoned either way, and a destructor must not throw.
  if (db_.in_transaction()) {
    const std::string sql =
        nested_ ? fmt::format("ROLLBACK TO {0}; RELEASE {0}", kSavepoint) : std::string("ROLLBACK");
    sqlite3_exec(db_.handle(), sql.c_str(), nullptr, nullptr, nullptr);
  }
  restore_synchronous();
}

void Transaction::commit() {
  check(!done_, "transaction on {} committed twice", db_.path());
  db_.execute(nested_ ? fmt::format("RELEASE {}", kSavepoint) : "COMMIT");
  done_ = true;
  if (deferred_) db_.execute("PRAGMA synchronous=FULL");
}

void Transaction::restore_synchronous() noexcept {
  // Only on paths that are already failing (a constructor's or a destructor's), where a second
  // error must not mask the first; commit() restores with a checked execute().
  if (deferred_ && !db_.in_transaction()) {
    sqlite3_exec(db_.handle(), "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
  }
}

}  // namespace fedgan::storage
