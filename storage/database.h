#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

// SQLite's handles, forward-declared so that <sqlite3.h> stays out of every includer.
struct sqlite3;
struct sqlite3_stmt;

namespace fedgan::storage {

/// How a database file is opened.
struct DatabaseOptions {
  /// How long a statement waits for a lock held by another connection (a user's sqlite3 shell
  /// running a write, say) before failing with SQLITE_BUSY.
  int busy_timeout_ms = 5000;
  /// Open an existing file read-only: no file is created, journal mode and schema are left as they
  /// are. For inspection tools; the coordinator opens read-write.
  bool read_only = false;
};

class Statement;

/// One SQLite connection (RAII). Opening a read-write database sets, and checks:
///  - `journal_mode=WAL`: readers (a user's sqlite3 shell) never block the coordinator's writes,
///    and a crash at any moment leaves the last committed transaction intact;
///  - `synchronous=FULL`: a commit fsyncs the write-ahead log, and with it every earlier commit
///    (the log is appended to in order). A Transaction may defer its fsync (Durability::kDeferred:
///    synchronous=NORMAL for that commit alone), which still survives a process crash; a power
///    loss can undo it only until the next fsync'd commit;
///  - `foreign_keys=ON` (SQLite's default is off, per connection).
/// `:memory:` and "" (a private temporary database) are accepted; they have no WAL.
///
/// Every SQLite failure becomes a StorageError carrying sqlite3_errmsg, the SQL and the file.
/// A Database is not thread-safe: use it from one thread at a time.
class Database {
 public:
  /// Opens (read-write: creating if missing) the database at `path`. Throws StorageError when the
  /// file cannot be opened or is not a database, or when WAL or foreign keys cannot be enabled.
  explicit Database(const std::string& path, const DatabaseOptions& options = {});

  const std::string& path() const { return path_; }

  /// Runs one or more `;`-separated statements that return no rows (DDL, pragmas).
  void execute(std::string_view sql);

  /// Compiles one statement. Throws StorageError on a syntax error or an unknown table or column.
  Statement prepare(std::string_view sql);

  /// The first column of the first row of `sql` as text ("" when there is no row or it is NULL).
  /// Handy for pragmas: `query_text("PRAGMA journal_mode")`.
  std::string query_text(std::string_view sql);
  /// The first column of the first row of `sql` as an integer (0 when there is no row).
  int64_t query_int(std::string_view sql);

  /// Rowid of the last successful INSERT on this connection.
  int64_t last_insert_rowid() const;
  /// Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t changes() const;
  /// True while a transaction is open on this connection.
  bool in_transaction() const;

  /// The raw handle, for calls this wrapper does not cover. Stays owned by this object.
  sqlite3* handle() const { return db_.get(); }

 private:
  struct Closer {
    void operator()(sqlite3* db) const noexcept;
  };
  void configure(const DatabaseOptions& options);

  std::unique_ptr<sqlite3, Closer> db_;
  std::string path_;
};

/// One prepared statement (RAII). Parameters are bound by 1-based position (`?`); values of
/// integral type (bool included) bind as INTEGER, floating-point as REAL, strings as TEXT and
/// std::nullopt or an empty std::optional as NULL. A NaN binds as NULL (SQLite has no NaN).
/// The statement must not outlive the Database that prepared it.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);

  /// Binds `value` to parameter `index` (1-based).
  template <typename T>
  Statement& bind(int index, const T& value);

  /// Binds `values` to parameters 1, 2, ... in order.
  template <typename... Args>
  Statement& bind_all(const Args&... values) {
    int index = 0;
    (bind(++index, values), ...);
    return *this;
  }

  /// Advances to the next row: true when a row is available, false when the statement is done.
  /// Throws StorageError on a constraint violation or any other failure.
  bool step();
  /// Steps to completion, for statements that return no rows (or whose rows are not needed).
  void run();
  /// Makes the statement runnable again; bindings are cleared.
  void reset();

  int column_count() const;
  bool is_null(int column) const;
  /// Value of `column` (0-based) of the current row as T: int64_t (or another integral type),
  /// bool, double, std::string, or std::optional of one of these (empty for NULL).
  template <typename T>
  T column(int column) const;

  const std::string& sql() const { return sql_; }

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* statement) const noexcept;
  };
  void bind_null(int index);
  void bind_int64(int index, int64_t value);
  void bind_double(int index, double value);
  void bind_text(int index, std::string_view value);
  int64_t column_int64(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;

  std::unique_ptr<sqlite3_stmt, Finalizer> statement_;
  std::string sql_;
};

/// When a transaction's commit reaches the disk.
enum class Durability {
  /// The commit fsyncs the write-ahead log: durable when commit() returns.
  kFsync,
  /// No fsync (synchronous=NORMAL for this commit): survives a process crash, and a power loss
  /// undoes it only until the connection's next fsync'd commit, which makes it durable. For
  /// records that matter only once a later fsync'd commit refers to them (a round's accepted
  /// updates, made durable by the round's commit).
  kDeferred,
};

/// A write transaction (RAII): `BEGIN IMMEDIATE` on construction, so the write lock is taken up
/// front and a commit cannot fail on a lock upgrade. Rolled back by the destructor (which never
/// throws) unless commit() succeeded. Opened while another transaction is open on the same
/// connection, it becomes a savepoint inside it: commit() releases the savepoint, destruction
/// rolls back to it, and the outer transaction decides (its durability too).
class Transaction {
 public:
  explicit Transaction(Database& db, Durability durability = Durability::kFsync);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  /// Makes the changes durable (or, nested, part of the outer transaction). Throws StorageError.
  void commit();

 private:
  // Back to synchronous=FULL after a deferred transaction, committed or not.
  void restore_synchronous() noexcept;

  Database& db_;  // owned by the caller, who keeps it alive for the transaction's lifetime
  bool nested_ = false;
  bool deferred_ = false;
  bool done_ = false;
};

namespace detail {
template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
}  // namespace detail

template <typename T>
Statement& Statement::bind(int index, const T& value) {
  if constexpr (std::is_same_v<T, std::nullopt_t>) {
    bind_null(index);
  } else if constexpr (detail::IsOptional<T>::value) {
    if (value) {
      bind(index, *value);
    } else {
      bind_null(index);
    }
  } else if constexpr (std::is_integral_v<T>) {
    bind_int64(index, static_cast<int64_t>(value));
  } else if constexpr (std::is_floating_point_v<T>) {
    bind_double(index, static_cast<double>(value));
  } else {
    static_assert(std::is_convertible_v<const T&, std::string_view>, "unsupported bind type");
    bind_text(index, std::string_view(value));
  }
  return *this;
}

template <typename T>
T Statement::column(int column) const {
  if constexpr (detail::IsOptional<T>::value) {
    if (is_null(column)) return std::nullopt;
    return this->column<typename T::value_type>(column);
  } else if constexpr (std::is_same_v<T, bool>) {
    return column_int64(column) != 0;
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(column_int64(column));
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(column_double(column));
  } else {
    static_assert(std::is_same_v<T, std::string>, "unsupported column type");
    return column_text(column);
  }
}

}  // namespace fedgan::storage
