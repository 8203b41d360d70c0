"""Direct writes: a person's change to one entity, through the same gate as the optimizer's."""
