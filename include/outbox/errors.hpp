// The exception hierarchy at the API boundary. Each class answers "what should the caller do?":
//   ValidationError  - fix the message; nothing was written and the caller's transaction is untouched.
//   UsageError       - fix the call or configuration (bad name, no open transaction, unknown option);
//                      NoSuchOutbox: create the outbox first.
//   StoreError       - the database failed; retryable() says whether trying again may help.
//   CommitInDoubt    - the commit may or may not have happened; check before retrying.
//   SinkError        - the broker refused or failed; retryable() distinguishes transient from permanent.
#pragma once

#include <stdexcept>
#include <string>

namespace outbox {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A message or schema broke a rule. `pointer` is the JSON pointer of the offending value ("" = the
// whole document) and `rule` names the rule ("required", "maxLength", "max_payload_bytes", ...).
class ValidationError : public Error {
 public:
  ValidationError(std::string pointer, std::string rule, const std::string& detail)
      : Error("invalid message at '" + pointer + "' (" + rule + "): " + detail),
        pointer_(std::move(pointer)),
        rule_(std::move(rule)) {}
  const std::string& pointer() const noexcept { return pointer_; }
  const std::string& rule() const noexcept { return rule_; }

 private:
  std::string pointer_;
  std::string rule_;
};

// The caller used the API wrongly: bad identifier, unknown option, put outside a transaction...
class UsageError : public Error {
 public:
  using Error::Error;
};

// The outbox named in a call has not been created in that store (Store::init, Outbox::init).
class NoSuchOutbox : public UsageError {
 public:
  NoSuchOutbox(const std::string& what, std::string outbox) : UsageError(what), outbox_(std::move(outbox)) {}
  const std::string& outbox() const noexcept { return outbox_; }

 private:
  std::string outbox_;
};

class StoreError : public Error {
 public:
  StoreError(const std::string& what, bool retryable) : Error(what), retryable_(retryable) {}
  bool retryable() const noexcept { return retryable_; }

 private:
  bool retryable_;
};

// The connection broke while a COMMIT was in flight: the transaction may have committed.
class CommitInDoubt : public StoreError {
 public:
  explicit CommitInDoubt(const std::string& what) : StoreError(what, false) {}
};

// Another relay holds (or took over) the lease of this consumer; this one must stop.
class LeaseLost : public StoreError {
 public:
  explicit LeaseLost(const std::string& what) : StoreError(what, false) {}
};

class SinkError : public Error {
 public:
  SinkError(const std::string& what, bool retryable) : Error(what), retryable_(retryable) {}
  bool retryable() const noexcept { return retryable_; }

 private:
  bool retryable_;
};

}  // namespace outbox
