"""The campaign scheduler's parts (layer 7, beside :mod:`jffs_driver.scheduler`, which composes them).

* :mod:`.planner`: which tasks can run now (pure: no store, no engine, no clock);
* :mod:`.committer`: results in any order -> records in trial-index order, batched commits
  with predicted configuration ids, the in-memory :class:`~jffs_driver.campaign_state.CampaignState`;
* :mod:`.snapshot_cache`: parent states kept in memory within a byte budget.

They sit in the campaign layer, not in :mod:`jffs_driver.ffs`, because they read the
:class:`~jffs_driver.config.CampaignConfig` and :class:`~jffs_driver.campaign_state.CampaignState`
(layers 6-7) and build :mod:`jffs_driver.store.records` (layer 5); the decisions they apply
(parent choice, seeds, milestone placement, stop rule) stay pure functions in ``ffs``.
"""
