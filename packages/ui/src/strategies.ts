/** The merge strategies a pipeline can declare (`-- @merge_strategy:`; rat_jupyter/core/strategies.py), in the
 * order the forms of the portal and of JupyterLab offer them and the editor completes them. */
export const STRATEGIES = ["full_refresh", "incremental", "append_only", "delete_insert", "scd2", "snapshot"] as const;
