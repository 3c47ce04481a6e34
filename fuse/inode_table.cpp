#include "fuse/inode_table.h"

#include <mutex>
#include <utility>

namespace gocachefs {

namespace {
constexpr Inode kFirstObjectInode = kRootInode + 1;
}  // namespace

std::optional<Inode> InodeTable::add(const LazyObject& object) {
  std::unique_lock lock(mutex_);
  if (auto it = inodes_.find(object.output_id); it != inodes_.end()) {
    if (entry(it->second)->object.size != object.size) return std::nullopt;
    return it->second;
  }
  const Inode inode = kFirstObjectInode + entries_.size();
  entries_.push_back(Entry{.object = object});
  inodes_.emplace(object.output_id, inode);
  return inode;
}

std::optional<Inode> InodeTable::find(std::string_view name) const {
  const auto id = id_from_hex(name);
  if (!id) return std::nullopt;
  return find(*id);
}

std::optional<Inode> InodeTable::find(const Id& output_id) const {
  std::shared_lock lock(mutex_);
  if (auto it = inodes_.find(output_id); it != inodes_.end()) return it->second;
  return std::nullopt;
}

const LazyObject* InodeTable::object(Inode inode) const {
  std::shared_lock lock(mutex_);
  const Entry* found = entry(inode);
  return found ? &found->object : nullptr;
}

FetchState InodeTable::state(Inode inode) const {
  std::shared_lock lock(mutex_);
  const Entry* found = entry(inode);
  return found ? found->state : NotFetched{};
}

void InodeTable::set_fetched(Inode inode, std::string path) {
  std::unique_lock lock(mutex_);
  if (Entry* found = entry(inode)) found->state = Fetched{std::move(path)};
}

void InodeTable::set_failed(Inode inode, std::string error) {
  std::unique_lock lock(mutex_);
  if (Entry* found = entry(inode)) found->state = FetchFailed{std::move(error)};
}

bool InodeTable::first_open(Inode inode) {
  std::unique_lock lock(mutex_);
  Entry* found = entry(inode);
  if (!found || found->opened) return false;
  found->opened = true;
  return true;
}

std::size_t InodeTable::size() const {
  std::shared_lock lock(mutex_);
  return entries_.size();
}

InodeTable::Entry* InodeTable::entry(Inode inode) {
  return const_cast<Entry*>(std::as_const(*this).entry(inode));
}

const InodeTable::Entry* InodeTable::entry(Inode inode) const {
  if (inode < kFirstObjectInode || inode - kFirstObjectInode >= entries_.size()) return nullptr;
  return &entries_[inode - kFirstObjectInode];
}

}  // namespace gocachefs
