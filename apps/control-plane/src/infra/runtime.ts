/** Facts about the running process that providers need: where the broker is, and its own credentials. */
export class BrokerEndpoint {
  constructor(
    /** URL the control plane itself connects to. */
    readonly url: string,
    /** URL handed to agents at enrollment. */
    readonly publicUrl: string,
    /** Credentials of the control plane's own MQTT clients (embedded broker, or MQTT_USERNAME/PASSWORD). */
    readonly username: string | undefined,
    readonly password: string | undefined,
    /**
     * Closes an agent's connection at once (the embedded broker). On an external broker this is a no-op
     * for now: a revoked agent is refused when it reconnects and its messages are dead-lettered.
     */
    readonly disconnectClient: (clientId: string) => void = () => undefined,
  ) {}
}
