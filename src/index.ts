// What a plugin or a deploy hook imports from baton: types only (`import type { Plugin } from 'baton'`), erased when
// Node strips the types, so a plugin file needs no build step and no runtime dependency on baton.
export type {
  Handler,
  HeaderMap,
  Plugin,
  PluginEnv,
  PluginLog,
  RequestContext,
  ResponseContext,
  TlsInfo,
  UpstreamInfo,
} from './middleware/api.ts';
export type { HookContainer, HookContext, HookFunction, HookLogger, HookStage } from './deploy/hooks.ts';
