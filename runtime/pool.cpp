#include "green/pool.hpp"

#include <algorithm>

namespace green {

void Group::prune() const {
  members_.erase(std::remove_if(members_.begin(), members_.end(),
                                [](const AnyGreenlet& g) { return g.dead(); }),
                 members_.end());
}

void Group::add(const AnyGreenlet& g) {
  prune();
  if (!contains(g)) members_.push_back(g);
}

void Group::discard(const AnyGreenlet& g) {
  members_.erase(std::remove(members_.begin(), members_.end(), g), members_.end());
}

bool Group::contains(const AnyGreenlet& g) const {
  return std::find(members_.begin(), members_.end(), g) != members_.end();
}

std::size_t Group::size() const {
  prune();
  return members_.size();
}

bool Group::join(Duration timeout) {
  const detail::Deadline deadline = detail::deadline_after(timeout);
  for (;;) {
    prune();
    if (members_.empty()) return true;
    const AnyGreenlet g = members_.front();
    const auto left = deadline == detail::kNoDeadline
                          ? forever
                          : Duration(std::max<std::int64_t>(0, deadline - detail::now_ns()));
    if (!g.join(left)) return false;
  }
}

void Group::kill(bool block, Duration timeout) {
  prune();
  const std::vector<AnyGreenlet> victims = members_;
  for (const AnyGreenlet& g : victims) g.kill(false);
  if (block) join(timeout);
}

}  // namespace green
