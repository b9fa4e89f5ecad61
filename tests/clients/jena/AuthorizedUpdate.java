// Runs one SPARQL Update through Jena's UpdateExecutionHTTP (what RDFConnection uses), with the
// endpoint's update token, on Java's HttpClient (HTTP/2 by default: on cleartext it sends the
// h2c upgrade headers). Run by tests/test_real_clients.py with Java's single-file source launcher:
//   java -cp JENA_CLASSPATH AuthorizedUpdate.java URL TOKEN FILE
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.jena.sparql.exec.http.UpdateExecutionHTTP;

public class AuthorizedUpdate {
    public static void main(String[] args) throws Exception {
        UpdateExecutionHTTP.service(args[0]).updateString(Files.readString(Path.of(args[2])))
                .httpHeader("Authorization", "Bearer " + args[1]).build().execute();
        System.out.println("applied");
    }
}
