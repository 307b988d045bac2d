#pragma once
// Supervision shared by the registries: children are linked, and a child's exit is handled in
// the parent's exit handler, in one place.

#include <caf/all.hpp>

namespace herald {

/// Installs an exit handler on `self` that forgets the child in `children` (a map whose values
/// have a `caf::actor` member selected by `actor_of`) whose exit it receives, and stops `self` on
/// any other exit. Idle children are unlinked before they are stopped, so an exit from a child
/// still in the map means it crashed.
template <class Self, class GetMap, class ActorOf>
void supervise_children(Self* self, GetMap get_map, ActorOf actor_of) {
  self->set_exit_handler([=](const caf::exit_msg& em) {
    auto& children = get_map(self);
    for (auto it = children.begin(); it != children.end(); ++it)
      if (actor_of(it->second).address() == em.source) {
        children.erase(it);
        return;
      }
    if (em.reason)
      self->quit(em.reason);
  });
}

} // namespace herald
