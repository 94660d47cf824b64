// Which deployer a service's deploy, rollback or scale goes to: a Swarm service (by its Swarm name, or the baton
// service its tasks are routed as) to the Swarm deployer, anything else to the container deployer. Each parses the
// request with its own schema: a Swarm deploy's settings default to the service's update_config, a container
// deploy's to baton's defaults.
import type { Deployer } from '../deploy/deployer.ts';
import { groupDeployRequestSchema } from '../deploy/group.ts';
import type { DeployRecord } from '../deploy/journal.ts';
import { deployRequestSchema, scaleRequestSchema } from '../deploy/plan.ts';
import type { SwarmDeployer } from '../deploy/swarm-deployer.ts';
import { swarmDeployRequestSchema, swarmScaleRequestSchema } from '../deploy/swarm-plan.ts';
import { BadRequestError, DockerDisabledError } from '../errors.ts';
import { parseBody } from './body.ts';

export class Deployments {
  readonly #containers: Deployer | null;
  readonly #swarm: SwarmDeployer | null;

  constructor(containers: Deployer | null, swarm: SwarmDeployer | null) {
    this.#containers = containers;
    this.#swarm = swarm;
  }

  async deploy(service: string, body: unknown): Promise<DeployRecord> {
    const svc = await this.#swarm?.resolve(service);
    if (svc) return this.#swarm!.startDeploy(svc, parseBody(swarmDeployRequestSchema, body));
    return this.#deployer().startDeploy(service, parseBody(deployRequestSchema, body));
  }

  /** POST /api/deploys: several container services in one call (group.ts); Swarm services deploy one by one. */
  async deployGroup(body: unknown): Promise<DeployRecord> {
    const req = parseBody(groupDeployRequestSchema, body);
    for (const s of req.services) {
      if (await this.#swarm?.resolve(s.name)) {
        throw new BadRequestError(`services: ${s.name} is a Swarm service; a group deploys container services only`);
      }
    }
    return this.#deployer().groups.start(req);
  }

  async scale(service: string, body: unknown): Promise<DeployRecord> {
    const svc = await this.#swarm?.resolve(service);
    if (svc) return this.#swarm!.startScale(svc, parseBody(swarmScaleRequestSchema, body));
    return this.#deployer().startScale(service, parseBody(scaleRequestSchema, body));
  }

  async rollback(service: string): Promise<DeployRecord> {
    const svc = await this.#swarm?.resolve(service);
    if (svc) return this.#swarm!.startRollback(svc);
    return this.#deployer().startRollback(service);
  }

  /** A canary deploy of a container service completed (no Swarm canaries). */
  promote(service: string): DeployRecord {
    return this.#deployer().promote(service);
  }

  get(id: string): DeployRecord | null {
    this.#enabled();
    return this.#containers?.get(id) ?? this.#swarm?.get(id) ?? null;
  }

  list(service?: string): DeployRecord[] {
    this.#enabled();
    return [...(this.#containers?.list(service) ?? []), ...(this.#swarm?.list(service) ?? [])];
  }

  /** With neither provider on there is no deployer at all. */
  #enabled(): void {
    if (this.#containers === null && this.#swarm === null) throw new DockerDisabledError();
  }

  #deployer(): Deployer {
    if (this.#containers === null) throw new DockerDisabledError();
    return this.#containers;
  }
}
