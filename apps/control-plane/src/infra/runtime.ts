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
  ) {}
}
