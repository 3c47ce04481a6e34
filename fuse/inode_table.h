// The files of the lazy mount: one inode per OutputID, with the size and the
// head that the action record carried, and what is known of the rest of the
// object's bytes. In memory only; the daemon adds objects as gets arrive.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <variant>

#include "store/ids.h"

namespace gocachefs {

// What libfuse calls fuse_ino_t; the table itself needs nothing from libfuse.
using Inode = std::uint64_t;
inline constexpr Inode kRootInode = 1;  // FUSE_ROOT_ID: the mount's directory

// A remote object as its action record describes it.
struct LazyObject {
  Id output_id{};
  std::uint64_t size = 0;
  std::string head;  // the object's first bytes: possibly none, possibly all
};

// What is known of an object's bytes beyond its head.
struct NotFetched {};
struct Fetched {
  std::string path;  // the verified object, kept in the local store
};
struct FetchFailed {
  std::string error;  // remembered, so that later reads fail at once
};
using FetchState = std::variant<NotFetched, Fetched, FetchFailed>;

// Thread-safe. Objects are only ever added, never changed or removed: an
// inode means one content for the table's whole life.
class InodeTable {
 public:
  // The object's inode, the same for every add of one OutputID (the first
  // head added is kept). Empty when the OutputID is already known with
  // another size: one of the two records is wrong, and a file must never
  // change size.
  std::optional<Inode> add(const LazyObject& object);

  // The inode named `name`, the OutputID's 64 lower-case hex digits.
  std::optional<Inode> find(std::string_view name) const;
  std::optional<Inode> find(const Id& output_id) const;

  // The object behind `inode`; null for the root and for inodes never given
  // out. The pointer stays valid as long as the table.
  const LazyObject* object(Inode inode) const;

  FetchState state(Inode inode) const;
  void set_fetched(Inode inode, std::string path);
  void set_failed(Inode inode, std::string error);

  // True the first time it is called for `inode`: counts objects opened.
  bool first_open(Inode inode);

  std::size_t size() const;

 private:
  struct Entry {
    LazyObject object;
    FetchState state;
    bool opened = false;
  };
  Entry* entry(Inode inode);  // null for inodes never given out; needs mutex_
  const Entry* entry(Inode inode) const;

  mutable std::shared_mutex mutex_;
  std::deque<Entry> entries_;  // entries_[i] is inode i + 2; a deque never moves them
  std::map<Id, Inode> inodes_;
};

}  // namespace gocachefs
