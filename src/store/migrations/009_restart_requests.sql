-- The operator asked for an agent to be restarted (MCP `restart_agent`): why, as it will be told
-- to the agent. `cw run` continues the agent's session and clears it; NULL when nothing is asked.
ALTER TABLE agents ADD COLUMN restart_reason TEXT;
